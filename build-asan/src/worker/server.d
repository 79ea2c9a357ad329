build-asan/src/worker/server.o: src/worker/server.c src/worker/server.h \
 src/worker/servables.h src/worker/../tf/tfb.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/c_api.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/c_api_macros.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_attrtype.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_buffer.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_datatype.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_status.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/xla/tsl/c/tsl_status.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_tensor.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_tstring.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/core/platform/ctstring.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tsl/platform/ctstring.h \
 /work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tsl/platform/ctstring_internal.h \
 src/worker/../tf/../common/status.h src/worker/model_config.h \
 src/worker/../common/status.h src/worker/../common/buf.h \
 src/worker/../common/log.h src/worker/rest.h
src/worker/server.h:
src/worker/servables.h:
src/worker/../tf/tfb.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/c_api.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/c_api_macros.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_attrtype.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_buffer.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_datatype.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_status.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/xla/tsl/c/tsl_status.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_tensor.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/c/tf_tstring.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tensorflow/core/platform/ctstring.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tsl/platform/ctstring.h:
/work/main/.venv/lib/python3.11/site-packages/tensorflow/include/tsl/platform/ctstring_internal.h:
src/worker/../tf/../common/status.h:
src/worker/model_config.h:
src/worker/../common/status.h:
src/worker/../common/buf.h:
src/worker/../common/log.h:
src/worker/rest.h:
