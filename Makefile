# ROMA build.  `make` builds build/roma and build/roma-worker; `make test`
# runs every test; `make asan` builds build-asan/ with AddressSanitizer + UBSan.
# Only roma-worker (src/tf, src/worker) links TensorFlow: its C library and
# headers come from the tensorflow-cpu wheel in .venv (scripts/setup.sh
# installs it) and roma-worker finds them via rpath.  build/roma (serve,
# bench, sim, k8s) links none and execs roma-worker for `roma worker`.

TF_DIR    ?= $(shell ls -d $(CURDIR)/.venv/lib/python3*/site-packages/tensorflow 2>/dev/null | head -1)
BUILD     ?= build
CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Werror -Wno-unused-parameter
CPPFLAGS  += -std=gnu11 -D_GNU_SOURCE -I$(TF_DIR)/include -Isrc $(shell pkg-config --cflags libevent_pthreads jansson libcurl)
LIBS      := $(shell pkg-config --libs libevent_pthreads jansson libcurl) -lpthread -lm -lsqlite3 -lyaml -lhttp_parser
# lld links against TensorFlow's 800 MB library in 5 s where ld.bfd takes 18
# (16 such links in scripts/test.sh); ld.bfd where lld is not installed.
LD_FAST   := $(if $(shell command -v ld.lld 2>/dev/null),-fuse-ld=lld)
TF_LIBS   := $(LD_FAST) -L$(TF_DIR) -l:libtensorflow_cc.so.2 -l:libtensorflow_framework.so.2 \
             -Wl,-rpath,$(TF_DIR)

# route.c is the worker's TensorFlow-free part that roma serve routes with.
NOTF_WORKER := src/worker/route.c
COMMON_SRC := $(wildcard src/common/*.c) $(NOTF_WORKER)
CORE_SRC  := $(COMMON_SRC) $(wildcard src/control/*.c src/serve/*.c src/bench/*.c src/sim/*.c src/k8s/*.c)
TF_SRC    := $(filter-out $(NOTF_WORKER),$(wildcard src/tf/*.c src/worker/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
TF_OBJ    := $(TF_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(wildcard tests/unit/test_*.c)
# Unit tests of the worker's modules (they include worker/ or tf/ headers) link TensorFlow.
TF_TEST_SRC := $(shell grep -lE '\#include "(\.\./src/)?(worker|tf)/' $(TEST_SRC))
TEST_BIN  := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TF_TEST_BIN := $(TF_TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.DEFAULT_GOAL := all
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

bench: all $(BUILD)/bench/tfrun
	bash bench/worker.sh

.PHONY: bench all tests test unit-test http-test asan clean check-tf check-chartjs models experiment fuzz fuzz-build fuzz-bins

all: $(BUILD)/roma $(BUILD)/roma-worker

check-tf:
	@test -n "$(TF_DIR)" -a -f "$(TF_DIR)/libtensorflow_cc.so.2" || \
	  { echo "TensorFlow C library not found under .venv: run scripts/setup.sh first" >&2; exit 1; }

$(BUILD)/%.o: %.c | check-tf
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

# The dashboard page (src/serve/dashboard/) and Debian's Chart.js are built
# into roma by dashboard.c (.incbin): it depends on the files themselves.
DASHBOARD_DIR := $(CURDIR)/src/serve/dashboard
CHARTJS   ?= /usr/share/javascript/chart.js/chart.min.js
$(BUILD)/src/serve/dashboard.o: CPPFLAGS += -DDASHBOARD_DIR='"$(DASHBOARD_DIR)"' -DDASHBOARD_CHARTJS='"$(CHARTJS)"'
$(BUILD)/src/serve/dashboard.o: $(wildcard src/serve/dashboard/*) | check-chartjs

check-chartjs:
	@test -f "$(CHARTJS)" || { echo "Chart.js not found at $(CHARTJS): install Debian's libjs-chart.js" \
	  "(scripts/setup.sh does) or pass CHARTJS=/path/to/chart.min.js to make" >&2; exit 1; }

$(BUILD)/roma: $(BUILD)/src/main.o $(CORE_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/roma-worker: $(BUILD)/src/worker_main.o $(COMMON_OBJ) $(TF_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(TF_LIBS)

$(filter-out $(TF_TEST_BIN),$(TEST_BIN)): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) -lcmocka

$(TF_TEST_BIN): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(CORE_OBJ) $(TF_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(TF_LIBS) -lcmocka

$(BUILD)/bench/tfrun: $(BUILD)/bench/tfrun.o $(COMMON_OBJ) $(TF_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(TF_LIBS)

# bench/json.sh: jansson against the JSON fast path (json_fast.c needs the worker's objects)
$(BUILD)/bench/jsonparse: $(BUILD)/bench/jsonparse.o $(COMMON_OBJ) $(TF_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(TF_LIBS)

tests: $(TEST_BIN)

unit-test: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

http-test: all
	.venv/bin/python -m pytest -q tests/http

test: unit-test http-test

# The same program and unit tests with AddressSanitizer + UBSan, in build-asan/.
asan:
	$(MAKE) BUILD=build-asan CFLAGS="$(SAN_FLAGS)" all tests

models:
	.venv/bin/python scripts/gen_models.py --out models

# libFuzzer harnesses (tests/fuzz/, README "Fuzzing"): built with clang into
# build-fuzz/fuzz/, every object instrumented for coverage and ASan+UBSan.
# `make fuzz SECONDS=N` runs each for N seconds (tests/fuzz/run.sh).
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CFLAGS := $(SAN_FLAGS) -fsanitize=fuzzer-no-link
SECONDS   ?= 60

# A harness links only the sources it reaches through its includes
# (tests/fuzz/objects.py): about a third of the tree, not all of it, and
# TensorFlow's 800 MB library only when one of them is the worker's.
FUZZ_NEEDS_TF = $(filter-out %/route.o,$(filter $(BUILD)/src/tf/% $(BUILD)/src/worker/%,$^))
.SECONDEXPANSION:
$(FUZZ_BIN): $(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o \
    $$(shell python3 tests/fuzz/objects.py $(BUILD) tests/fuzz/$$*.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $^ -o $@ $(LIBS) $(if $(FUZZ_NEEDS_TF),$(TF_LIBS))

fuzz-bins: $(FUZZ_BIN)

fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_CFLAGS)" fuzz-bins

fuzz: fuzz-build
	bash tests/fuzz/run.sh $(SECONDS)

# The standard experiment (experiments/README.md): roma, roma-norm, rules,
# static, static-max and vpa against the same workload, REPEAT rounds
# interleaved (medians and ranges); results/experiment.{json,md,_rt.png,_cores.png}.
# `make experiment WORKLOAD=experiments/heldout-workload.yaml` evaluates on the
# held-out workload; SEED=N replaces the workload's arrival seed; PERIOD=0.5s
# the control period (1s); RUNS=rules,relative-pi-ff@0.5s a subset, a run
# with @P its own period.
REPEAT      ?= 3
RUN_SECONDS ?= 90
EXPERIMENT_FLAGS := --repeat $(REPEAT) --run-seconds $(RUN_SECONDS) $(if $(SEED),--seed $(SEED)) \
                    $(if $(WORKLOAD),--workload $(WORKLOAD)) $(if $(OUT),--out $(OUT)) \
                    $(if $(PERIOD),--period $(PERIOD)) $(if $(RUNS),--runs $(RUNS))
experiment: all
	.venv/bin/python scripts/experiment.py $(EXPERIMENT_FLAGS)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
