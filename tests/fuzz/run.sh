#!/usr/bin/env bash
# Runs every libFuzzer harness built in build-fuzz/fuzz/ (make fuzz-build)
# for SECONDS each, one after the other, and prints per harness the
# executions and the coverage (libFuzzer's cov: edges, ft: features).
#
#   tests/fuzz/run.sh SECONDS        # `make fuzz SECONDS=N`: new inputs are
#                                    # kept in build-fuzz/corpus/<harness>/
#   tests/fuzz/run.sh --ci SECONDS   # scripts/test.sh: committed corpus and
#                                    # seeds only, new inputs thrown away
#
# Seeds come from the tests (tests/fuzz/seeds.py -> build-fuzz/seeds/) and
# from tests/fuzz/corpus/<harness>/ (crash regressions, hand-made seeds).
# A crash, leak, sanitizer report or broken check fails the run; its input
# is saved as build-fuzz/crashes/<harness>-crash-<sha1>.
set -uo pipefail
cd "$(dirname "$0")/../.."
ci=0
if [ "${1:-}" = "--ci" ]; then ci=1; shift; fi
seconds=${1:?usage: tests/fuzz/run.sh [--ci] SECONDS}
out=build-fuzz
python3 tests/fuzz/seeds.py "$out/seeds" 2>/dev/null || { echo "seeds.py failed" >&2; exit 1; }
mkdir -p "$out/crashes" "$out/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail=0
printf '%-14s %8s %10s %8s %8s %8s  %s\n' harness seconds execs edges features corpus result
for bin in "$out"/fuzz/fuzz_*; do
    name=$(basename "$bin"); name=${name#fuzz_}
    if [ "$ci" = 1 ]; then corpus="$scratch/$name"; else corpus="$out/corpus/$name"; fi
    mkdir -p "$corpus" "tests/fuzz/corpus/$name" "$out/seeds/$name"
    log="$out/logs/$name.log"
    start=$(date +%s)
    "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -artifact_prefix="$out/crashes/$name-" \
        "$corpus" "tests/fuzz/corpus/$name" "$out/seeds/$name" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    edges=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    units=$(sed -n 's/.*corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    result=ok
    if [ "$rc" != 0 ]; then result="FAILED (rc $rc, see $log)"; fail=1; fi
    printf '%-14s %8s %10s %8s %8s %8s  %s\n' "$name" "$took" "${execs:-?}" "${edges:-?}" \
        "${ft:-?}" "${units:-?}" "$result"
    if [ "$rc" != 0 ]; then grep -E 'ERROR|runtime error|fuzz check failed|SUMMARY' "$log" | head -5; fi
done
exit $fail
