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
make -s build/roma build/roma-worker
mkdir -p results
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
. bench/lib_serve.sh
port=8731
dport=8732
start_serve $port
start_twin $dport
for name in direct serve; do
  p=$([ $name = direct ] && echo "$dport" || echo "$port")
  wp=$([ $name = direct ] && echo "$dpid" || echo "$wpid")
  wrk_run "$p" 1 2 /dev/null
  open_loop "$p" "$rate" "$secs" "$tmp/$name.open.json"
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
kill -TERM "$serve_pid" "$dpid"; wait 2>/dev/null || true # the twin too: wait would wait for it
