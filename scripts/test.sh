#!/usr/bin/env bash
# The README's test command: sets everything up (scripts/setup.sh), then runs
# every test: C unit tests, a short libFuzzer run of every parser's harness,
# black-box HTTP tests against build/roma, the dashboard in headless
# Chromium (tests/browser, once: not again under ASan), and both again on the
# AddressSanitizer + UBSan build (a sanitizer report fails it), less the HTTP
# tests marked `once` (checks of documents and scripts, and waits on roma
# serve's timers: minutes under ASan for nothing the sanitizers could see).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== C unit tests"
make -j2 unit-test

echo "== fuzzers: each harness 5 s on the committed corpus (a crash fails the run)"
make -j2 fuzz-build >/dev/null
bash tests/fuzz/run.sh --ci 5

echo "== HTTP tests (build/roma)"
.venv/bin/python -m pytest -q tests/http

echo "== soak under faults, 2 minutes (bench/soak.sh; root-only faults skipped without root)"
bash bench/soak.sh 2

echo "== Kubernetes tests (build/roma)"
.venv/bin/python -m pytest -q tests/k8s

echo "== browser tests: the dashboard in headless Chromium (build/roma)"
.venv/bin/python -m pytest -q tests/browser

echo "== sanitizer build: unit tests"
make -j2 asan >/dev/null
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build-asan/tests/test_*; do echo "== $t"; "$t"; done

echo "== sanitizer build: HTTP tests (build-asan/roma)"
ROMA_BIN=build-asan/roma .venv/bin/python -m pytest -q -m "not once" tests/http

echo "== sanitizer build: Kubernetes tests (build-asan/roma)"
ROMA_BIN=build-asan/roma .venv/bin/python -m pytest -q tests/k8s
