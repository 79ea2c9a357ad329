#!/usr/bin/env bash
# Triton-style load (issue 14): the `resnet` test model over the Open
# Inference Protocol with binary tensors, closed loop at concurrency 1..4,
# against `roma worker` and against `roma serve` in front of the same model
# (alternating per level, as this VM's speed drifts): throughput and
# latency percentiles.  perf_analyzer itself cannot run on Debian 12 (its
# PyPI wheels need glibc 2.38, Debian 12 has 2.36), so the load comes from
# Triton's own Python client in a loop (bench/triton_load.py), which
# measures what perf_analyzer's concurrency mode measures.
# When roma serve does not forward v2 requests (it answers 404), only the
# worker is measured, and the table says so.
# Usage: bash bench/perf_analyzer.sh [SECONDS]   (writes results/bench_perf_analyzer.json)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
make -s build/roma build/roma-worker
mkdir -p results
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
wport=8751 sport=8752
wait_url() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

build/roma worker --rest_api_port=$wport --model_name=resnet --model_base_path=models/resnet \
  --tensorflow_thread_spinning=0 >"$tmp/worker.log" 2>&1 &
cat >"$tmp/roma.yaml" <<YAML
listen: 127.0.0.1:$sport
node: {cpus: 2, gpus: []}
control: {period: 1s, controller: static}
store: {path: $tmp/roma.db}
models:
  - {name: resnet, base_path: models/resnet, sla: 1.0, cores: {min: 2, max: 2, initial: 2}}
YAML
build/roma serve -c "$tmp/roma.yaml" >"$tmp/serve.log" 2>&1 &
wait_url "localhost:$wport/v2/models/resnet/ready" || { cat "$tmp/worker.log" >&2; exit 1; }
for _ in $(seq 300); do
  curl -sf "localhost:$sport/roma/v1/workers" | grep -q '"ready"' && break; sleep 0.1
done
targets="worker"
if curl -sf "localhost:$sport/v2/models/resnet" >/dev/null; then targets="worker serve"; fi

for c in 1 2 3 4; do
  for t in $targets; do
    p=$([ $t = worker ] && echo $wport || echo $sport)
    .venv/bin/python bench/triton_load.py "127.0.0.1:$p" resnet "$c" "$secs" >"$tmp/$t.$c.json"
  done
done

.venv/bin/python - "$tmp" "$targets" <<'PY'
import json, sys
tmp, targets = sys.argv[1], sys.argv[2].split()
out = {t: [json.load(open(f"{tmp}/{t}.{c}.json")) for c in (1, 2, 3, 4)] for t in targets}
json.dump(out, open("results/bench_perf_analyzer.json", "w"), indent=1)
print("resnet, v2 binary tensors, tritonclient closed loop")
print("| target | concurrency | req/s | p50 µs | p90 µs | p99 µs | errors |")
print("|---|---:|---:|---:|---:|---:|---:|")
for c in range(4):
    for t in targets:
        r = out[t][c]
        print(f"| {t} | {r['concurrency']} | {r['throughput_rps']:.1f} | {r['p50_us']:.0f} | "
              f"{r['p90_us']:.0f} | {r['p99_us']:.0f} | {r['errors']} |")
if "serve" not in targets:
    print("roma serve does not forward v2 requests in this build: worker only")
PY
