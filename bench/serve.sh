#!/usr/bin/env bash
# Dispatcher overhead: the same load on half_plus_two (one instance per
# request) sent straight to the worker that `roma serve` started and through
# roma serve, in one run: p50/p99 with one connection and throughput with 32.
# (wrk is closed-loop; `roma bench` will give the open-loop figures.)
# Usage: bash bench/serve.sh [SECONDS]     (writes results/bench_serve.json)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
hp2=../shared/testdata/tfserving/saved_model_half_plus_two_cpu
[ -d "$hp2" ] || { echo "bench: $hp2 missing (../shared)" >&2; exit 1; }
make -s build/roma
mkdir -p results
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=8731
cat >"$tmp/roma.yaml" <<YAML
listen: 127.0.0.1:$port
node: {cpus: 2, gpus: []}
control: {period: 1s, controller: static}
dispatch: {queue_limit: 100000}
store: {path: $tmp/roma.db}
models:
  - {name: half_plus_two, base_path: $hp2, sla: 0.1, cores: {min: 2, max: 2, initial: 2}}
YAML
echo '{"instances": [1.0]}' >"$tmp/body.json"
build/roma serve -c "$tmp/roma.yaml" >"$tmp/serve.log" 2>&1 &
for _ in $(seq 100); do
  curl -sf "localhost:$port/roma/v1/workers" | grep -q '"ready"' && break; sleep 0.1
done
wport=$(curl -s "localhost:$port/roma/v1/workers" | python3 -c "import json,sys; print(json.load(sys.stdin)['workers'][0]['port'])")

wrk_run() { # port conns seconds out
  BODY="$tmp/body.json" wrk -t1 -c"$2" -d"$3"s --latency -s bench/post.lua \
    "http://127.0.0.1:$1/v1/models/half_plus_two:predict" >"$4"
}
for name in direct serve; do
  p=$([ $name = direct ] && echo "$wport" || echo "$port")
  wrk_run "$p" 1 2 /dev/null
  wrk_run "$p" 1 "$secs" "$tmp/$name.lat"
  wrk_run "$p" 32 "$secs" "$tmp/$name.tput"
done
python3 - "$tmp" <<'PY'
import json, re, sys
tmp = sys.argv[1]; u = {"us": 1, "ms": 1e3, "s": 1e6}
def wrk(path):
    t = open(path).read()
    p = {k: float(v) * u[s] for k, v, s in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", t, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return p.get("50"), p.get("99"), float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)), int(bad.group(1)) if bad else 0
r = {}
for n in ("direct", "serve"):
    p50, p99, _, e1 = wrk(f"{tmp}/{n}.lat"); _, _, rps, e2 = wrk(f"{tmp}/{n}.tput")
    r[n] = {"p50_us": p50, "p99_us": p99, "rps": rps, "errors": e1 + e2}
r["added_p50_us"] = r["serve"]["p50_us"] - r["direct"]["p50_us"]
r["added_p99_us"] = r["serve"]["p99_us"] - r["direct"]["p99_us"]
r["throughput_ratio"] = r["serve"]["rps"] / r["direct"]["rps"]
json.dump(r, open("results/bench_serve.json", "w"), indent=1)
print("| path | p50 µs | p99 µs | req/s (32 conns) | errors |\n|---|---:|---:|---:|---:|")
for n in ("direct", "serve"):
    x = r[n]; print(f"| {n} | {x['p50_us']:.0f} | {x['p99_us']:.0f} | {x['rps']:.0f} | {x['errors']} |")
print(f"added p50 {r['added_p50_us']:.0f} µs, added p99 {r['added_p99_us']:.0f} µs, throughput ratio {r['throughput_ratio']:.2f}")
PY
kill -TERM %1; wait 2>/dev/null || true
