build-asan/tests/unit/test_model_config.o: tests/unit/test_model_config.c \
 tests/unit/unit.h src/worker/model_config.h \
 src/worker/../common/status.h
tests/unit/unit.h:
src/worker/model_config.h:
src/worker/../common/status.h:
