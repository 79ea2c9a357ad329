# ROMA build.  `make` builds build/roma; `make test` runs every test;
# `make asan` builds build-asan/ with AddressSanitizer + UBSan.
# TensorFlow's C library and headers come from the tensorflow-cpu wheel in
# .venv (scripts/setup.sh installs it); build/roma finds them via rpath.

TF_DIR    ?= $(shell ls -d $(CURDIR)/.venv/lib/python3*/site-packages/tensorflow 2>/dev/null | head -1)
BUILD     ?= build
CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Werror -Wno-unused-parameter
CPPFLAGS  += -std=gnu11 -D_GNU_SOURCE -I$(TF_DIR)/include -Isrc $(shell pkg-config --cflags libevent_pthreads jansson)
LIBS      := $(shell pkg-config --libs libevent_pthreads jansson) -lpthread -lm -lsqlite3 -lyaml
TF_LIBS   := -L$(TF_DIR) -l:libtensorflow_cc.so.2 -l:libtensorflow_framework.so.2 -Wl,-rpath,$(TF_DIR)

LIB_SRC   := $(wildcard src/common/*.c src/tf/*.c src/worker/*.c src/control/*.c src/serve/*.c src/bench/*.c src/sim/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(wildcard tests/unit/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.DEFAULT_GOAL := all
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

bench: $(BUILD)/roma $(BUILD)/bench/tfrun
	bash bench/worker.sh

.PHONY: bench all tests test unit-test http-test asan clean check-tf models experiment

all: $(BUILD)/roma

check-tf:
	@test -n "$(TF_DIR)" -a -f "$(TF_DIR)/libtensorflow_cc.so.2" || \
	  { echo "TensorFlow C library not found under .venv: run scripts/setup.sh first" >&2; exit 1; }

$(BUILD)/%.o: %.c | check-tf
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

$(BUILD)/roma: $(BUILD)/src/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(TF_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(TF_LIBS) -lcmocka

$(BUILD)/bench/tfrun: $(BUILD)/bench/tfrun.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(TF_LIBS)

tests: $(TEST_BIN)

unit-test: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

http-test: $(BUILD)/roma
	.venv/bin/python -m pytest -q tests/http

test: unit-test http-test

# The same program and unit tests with AddressSanitizer + UBSan, in build-asan/.
asan:
	$(MAKE) BUILD=build-asan CFLAGS="$(SAN_FLAGS)" all tests

models:
	.venv/bin/python scripts/gen_models.py --out models

# The standard experiment (experiments/README.md): roma, rules, static and
# static-max against the same workload; results/experiment.{json,md,_rt.png,_cores.png}.
experiment: all
	.venv/bin/python scripts/experiment.py

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
