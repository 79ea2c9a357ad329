build-asan/src/main.o: src/main.c src/worker/worker.h
src/worker/worker.h:
