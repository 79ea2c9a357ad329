#!/bin/bash
# experiments/standin.sh - cost-aware against the paper's GPU policy on real
# roma serve processes with a GPU stand-in (a worker pinned to a CPU of its
# own that roma serve treats as a GPU: tests and experiments only).
#
#   bash experiments/standin.sh      # ROUNDS=2 POLICIES="cost-aware roma" CONTROLLER=roma-norm
#
# Each round runs every policy once, in turn (so drift of this shared
# machine hits both alike), on experiments/standin-workload.yaml, and keeps
# roma bench's summary and roma serve's /roma/v1/models (the measured GPU
# service and CPU cost per request, which experiments/standin.yaml uses)
# under $OUT.  Needs 2 CPUs: the last one is the stand-in's.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-results/standin}
ROUNDS=${ROUNDS:-2}
POLICIES=${POLICIES:-"cost-aware roma"}
CONTROLLER=${CONTROLLER:-roma-norm}
PORT=${PORT:-18611}
CPUS=$(python3 -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))')
STANDIN_CPU=${CPUS##* }
[ "$STANDIN_CPU" != "${CPUS%% *}" ] || { echo "standin.sh: needs 2 CPUs, has: $CPUS" >&2; exit 2; }
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for policy in $POLICIES; do
        run="$OUT/$policy-$round"
        rm -f "$run.db"*
        sed -e "s/@POLICY@/$policy/" -e "s/@PORT@/$PORT/" -e "s|@STORE@|$run.db|" \
            -e "s/@CONTROLLER@/$CONTROLLER/" -e "s/@STANDIN_CPU@/$STANDIN_CPU/" \
            experiments/standin-serve.yaml > "$run.yaml"
        build/roma serve -c "$run.yaml" > "$run.log" 2>&1 &
        serve=$!
        ready=0
        for _ in $(seq 1 600); do
            if curl -sf "http://127.0.0.1:$PORT/roma/v1/workers" 2>/dev/null |
               python3 -c 'import json,sys; w=json.load(sys.stdin)["workers"]; sys.exit(0 if all(x["state"]=="ready" for x in w) else 1)' 2>/dev/null; then
                ready=1; break
            fi
            sleep 0.1
        done
        [ "$ready" = 1 ] || { kill "$serve"; echo "standin.sh: roma serve not ready, see $run.log" >&2; exit 1; }
        echo "round $round: $policy ($CONTROLLER)" >&2
        build/roma bench -w experiments/standin-workload.yaml --target "http://127.0.0.1:$PORT" \
            --out "$run.json" > "$run.bench.txt"
        curl -s "http://127.0.0.1:$PORT/roma/v1/models" > "$run.models.json"
        curl -s "http://127.0.0.1:$PORT/metrics" > "$run.metrics.txt"
        kill "$serve"
        wait "$serve" || true
    done
done
python3 - "$OUT" "$ROUNDS" $POLICIES <<'PY'
import json, sys
out, rounds, policies = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("| run | sent | violations | p95 ms (resnet/mobilenet) | core-seconds | on the stand-in | GPU s/req, CPU 1-core s/req (resnet; mobilenet) |")
print("|---|---:|---:|---|---:|---:|---|")
for r in range(1, rounds + 1):
    for p in policies:
        run = f"{out}/{p}-{r}"
        s = json.load(open(run + ".json"))
        ms = json.load(open(run + ".models.json"))["models"]
        bm = list(s["models"].values())
        sent = sum(m["sent"] for m in bm)
        viol = sum(m["violation_rate"] * m["sent"] for m in bm) / sent
        cs = sum(m.get("core_seconds", 0) for m in bm)
        gpu = 0
        for line in open(run + ".metrics.txt"):
            if line.startswith("roma_requests_total{") and 'device="gpu:0"' in line and 'code="200"' in line:
                gpu += float(line.split()[-1])
        p95 = "/".join(f"{m['p95'] * 1000:.0f}" for m in bm)
        costs = "; ".join(f"{m['gpu_service'] * 1000:.1f} ms, {m['cpu_cost'] * 1000:.1f} ms" for m in ms)
        print(f"| {p} #{r} | {sent} | {viol:.1%} | {p95} | {cs:.1f} | {gpu / sent:.0%} | {costs} |")
PY
