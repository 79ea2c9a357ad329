build-asan/src/worker/model_config.o: src/worker/model_config.c \
 src/worker/model_config.h src/worker/../common/status.h \
 src/worker/../common/buf.h
src/worker/model_config.h:
src/worker/../common/status.h:
src/worker/../common/buf.h:
