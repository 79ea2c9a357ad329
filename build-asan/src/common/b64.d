build-asan/src/common/b64.o: src/common/b64.c src/common/b64.h \
 src/common/buf.h
src/common/b64.h:
src/common/buf.h:
