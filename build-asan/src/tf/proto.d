build-asan/src/tf/proto.o: src/tf/proto.c src/tf/proto.h \
 src/tf/../common/buf.h
src/tf/proto.h:
src/tf/../common/buf.h:
