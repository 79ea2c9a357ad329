build-asan/src/common/status.o: src/common/status.c src/common/status.h
src/common/status.h:
