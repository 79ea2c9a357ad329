#!/usr/bin/env bash
# Dispatcher overhead: the same load on half_plus_two (one instance per
# request) sent straight to a worker and through roma serve, in one run.  A
# worker roma serve started answers only roma serve (X-Roma-Secret), so the
# direct path goes to its twin: a standalone `roma worker` with the same
# flags on a port of its own (cores min = max = the whole machine, so the
# cgroup and the pinning limit neither):
#   - open loop (roma bench, constant RATE req/s): p50/p99 and achieved rate,
#   - closed loop (wrk, 32 connections): the most each path answers per second,
#     and the CPU each process spent a request meanwhile (wrk, roma serve,
#     the worker): on cores that all three share, the throughput ratio can
#     be no better than the direct path's CPU a request over the served one's.
# Usage: bash bench/serve.sh [SECONDS] [RATE]    (writes results/bench_serve.json)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rate=${2:-2000}
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
serve_pid=$!
for _ in $(seq 100); do
  curl -sf "localhost:$port/roma/v1/workers" | grep -q '"ready"' && break; sleep 0.1
done
read -r _ wpid < <(curl -s "localhost:$port/roma/v1/workers" |
  python3 -c "import json,sys; w = json.load(sys.stdin)['workers'][0]; print(w['port'], w['pid'])")
dport=8732
mapfile -d '' wargs <"/proc/$wpid/cmdline" # the same program, flags and model
"$(readlink "/proc/$wpid/exe")" "${wargs[@]:1}" --rest_api_port=$dport >"$tmp/direct.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do
  curl -sf "localhost:$dport/v1/models/half_plus_two" >/dev/null && break; sleep 0.1
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks

wrk_run() { # port conns seconds out
  BODY="$tmp/body.json" wrk -t1 -c"$2" -d"$3"s --latency -s bench/post.lua \
    "http://127.0.0.1:$1/v1/models/half_plus_two:predict" >"$4"
}
for name in direct serve; do
  p=$([ $name = direct ] && echo "$dport" || echo "$port")
  wp=$([ $name = direct ] && echo "$dpid" || echo "$wpid")
  wrk_run "$p" 1 2 /dev/null
  TF_CPP_MIN_LOG_LEVEL=3 build/roma bench --target "http://127.0.0.1:$p" --model half_plus_two \
    --payload "$tmp/body.json" --rate "$rate" --duration "$secs" --sla 0.1 \
    --out "$tmp/$name.open.json" 2>/dev/null
  s0=$(cpu_ticks "$serve_pid"); w0=$(cpu_ticks "$wp")
  # `times` in the subshell: the CPU its child (wrk) used
  (wrk_run "$p" 32 "$secs" "$tmp/$name.tput"; times >"$tmp/$name.wrk_cpu")
  echo "$(( $(cpu_ticks "$serve_pid") - s0 )) $(( $(cpu_ticks "$wp") - w0 )) $(getconf CLK_TCK)" >"$tmp/$name.cpu"
done
python3 - "$tmp" "$rate" <<'PY'
import json, re, sys
tmp, rate = sys.argv[1], float(sys.argv[2])
r = {"rate_asked": rate}
for n in ("direct", "serve"):
    o = json.load(open(f"{tmp}/{n}.open.json"))
    m = o["models"]["half_plus_two"] if isinstance(o["models"], dict) else o["models"][0]
    t = open(f"{tmp}/{n}.tput").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    r[n] = {"p50_us": m["p50"] * 1e6, "p99_us": m["p99"] * 1e6, "rate_achieved": o["rate_achieved"],
            "errors": m["errors"], "closed_loop_rps": rps}
r["added_p50_us"] = r["serve"]["p50_us"] - r["direct"]["p50_us"]
r["added_p99_us"] = r["serve"]["p99_us"] - r["direct"]["p99_us"]
r["closed_loop_ratio"] = r["serve"]["closed_loop_rps"] / r["direct"]["closed_loop_rps"]
def seconds(t):  # "1m2.345s"
    m, sec = re.fullmatch(r"(\d+)m([\d.]+)s", t).groups()
    return int(m) * 60 + float(sec)
for n in ("direct", "serve"):
    t = open(f"{tmp}/{n}.tput").read()
    done = int(re.search(r"(\d+) requests in", t).group(1))
    serve_ticks, worker_ticks, hz = map(int, open(f"{tmp}/{n}.cpu").read().split())
    wrk_cpu = sum(seconds(x) for x in open(f"{tmp}/{n}.wrk_cpu").read().split()[2:4])
    r[n]["cpu_us_per_request"] = {"wrk": wrk_cpu / done * 1e6,
                                  "serve": serve_ticks / hz / done * 1e6 if n == "serve" else 0.0,
                                  "worker": worker_ticks / hz / done * 1e6}
cpu = {n: sum(r[n]["cpu_us_per_request"].values()) for n in ("direct", "serve")}
r["closed_loop_ratio_cpu_bound"] = cpu["direct"] / cpu["serve"]
json.dump(r, open("results/bench_serve.json", "w"), indent=1)
print(f"open loop at {rate:.0f} req/s (roma bench), closed loop with 32 connections (wrk)")
print("| path | p50 µs | p99 µs | achieved req/s | errors | closed-loop req/s |\n|---|---:|---:|---:|---:|---:|")
for n in ("direct", "serve"):
    x = r[n]
    print(f"| {n} | {x['p50_us']:.0f} | {x['p99_us']:.0f} | {x['rate_achieved']:.0f} | {x['errors']} | {x['closed_loop_rps']:.0f} |")
print(f"added p50 {r['added_p50_us']:.0f} µs, added p99 {r['added_p99_us']:.0f} µs, "
      f"closed-loop throughput ratio {r['closed_loop_ratio']:.2f}")
print("CPU a request in the closed loop, µs: | path | wrk | roma serve | worker | all |")
for n in ("direct", "serve"):
    c = r[n]["cpu_us_per_request"]
    print(f"| {n} | {c['wrk']:.1f} | {c['serve']:.1f} | {c['worker']:.1f} | {cpu[n]:.1f} |")
print(f"on shared cores the ratio is at most {r['closed_loop_ratio_cpu_bound']:.2f} "
      "(direct CPU a request over served)")
PY
kill -TERM %1; wait 2>/dev/null || true
