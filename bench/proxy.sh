#!/usr/bin/env bash
# The dispatcher against nginx (issue 14): nginx (Debian's package, one
# worker process, upstream keep-alive, its access log on as shipped, like
# roma serve's request store) in front of a half_plus_two `roma worker`, and
# `roma serve` in front of the same kind of worker (the twin of the
# worker roma serve started; see bench/lib_serve.sh), the same load:
#   - closed loop (wrk, 32 connections), ROUNDS alternating rounds: each
#     proxy's CPU a request (utime + stime of its processes, from
#     /proc/PID/stat) and throughput; the direct path as reference;
#   - open loop (roma bench at RATE req/s): p50 added over the direct path.
# nginx's config is written to the scratch directory, not /etc.
# With OTHER_BUILD (a directory with another build's roma and roma-worker,
# e.g. a copy of build/ before a change), a second roma serve from it, in
# front of its own worker, joins the rounds as the path "serve-other".
# Usage: bash bench/proxy.sh [SECONDS] [ROUNDS] [RATE] [OTHER_BUILD]   (writes results/bench_proxy.json)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-3}
rate=${3:-2000}
other=${4:-}
command -v nginx >/dev/null || { echo "bench: nginx missing: run scripts/setup.sh" >&2; exit 1; }
make -s build/roma build/roma-worker
mkdir -p results
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
. bench/lib_serve.sh
port=8761 dport=8762 nport=8763 oport=8764
names="direct nginx serve"
if [ -n "$other" ]; then
  start_serve $oport "$other"
  other_pid=$serve_pid
  names="$names serve-other"
fi
start_serve $port
start_twin $dport

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    upstream worker {
        server 127.0.0.1:$dport;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$nport;
        location / {
            proxy_pass http://worker;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
nginx_master=$!
for _ in $(seq 100); do
  curl -sf -d @"$tmp/body.json" "localhost:$nport/v1/models/half_plus_two:predict" >/dev/null && break
  sleep 0.1
done
nginx_pids() { echo "$nginx_master" $(pgrep -P "$nginx_master"); }
ticks_of() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }

# closed loop, alternating; the direct path once per round too
for r in $(seq "$rounds"); do
  for name in $names; do
    case $name in
      direct) p=$dport pids=;; nginx) p=$nport pids=$(nginx_pids);; serve) p=$port pids=$serve_pid;;
      serve-other) p=$oport pids=$other_pid;;
    esac
    wrk_run "$p" 32 1 /dev/null # warm-up: connections up, upstream keep-alive pool filled
    c0=$(ticks_of $pids)
    wrk_run "$p" 32 "$secs" "$tmp/$name.$r.tput"
    echo "$(( $(ticks_of $pids) - c0 )) $(getconf CLK_TCK)" >"$tmp/$name.$r.cpu"
  done
done
for name in $names; do
  case $name in direct) p=$dport;; nginx) p=$nport;; serve) p=$port;; serve-other) p=$oport;; esac
  open_loop "$p" "$rate" "$secs" "$tmp/$name.open.json" >/dev/null
done

python3 - "$tmp" "$rounds" "$rate" $names <<'PY'
import json, re, statistics, sys
tmp, rounds, rate, names = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
res = {n: [] for n in names}
for r in range(1, rounds + 1):
    for n in names:
        t = open(f"{tmp}/{n}.{r}.tput").read()
        done = int(re.search(r"(\d+) requests in", t).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
        ticks, hz = map(int, open(f"{tmp}/{n}.{r}.cpu").read().split())
        res[n].append({"rps": rps, "cpu_us_per_request": ticks / hz / done * 1e6 if n != "direct" else 0.0,
                       "non_2xx": int(bad.group(1)) if bad else 0})
opn = {}
for n in names:
    o = json.load(open(f"{tmp}/{n}.open.json"))
    m = o["models"]["half_plus_two"] if isinstance(o["models"], dict) else o["models"][0]
    opn[n] = {"p50_us": m["p50"] * 1e6, "p99_us": m["p99"] * 1e6, "errors": m["errors"]}
out = {"rounds": res, "open_loop": opn, "rate": rate}
json.dump(out, open("results/bench_proxy.json", "w"), indent=1)
print(f"closed loop, wrk 32 connections, {rounds} alternating rounds (per round: req/s, proxy CPU µs a request)")
print("| path | " + " | ".join(f"round {r}" for r in range(1, rounds + 1)) + " | median req/s | median CPU µs/req |")
print("|---|" + "---|" * rounds + "---:|---:|")
for n in names:
    cells = [f"{x['rps']:.0f}, {x['cpu_us_per_request']:.1f}" for x in res[n]]
    print(f"| {n} | " + " | ".join(cells) + f" | {statistics.median(x['rps'] for x in res[n]):.0f} | "
          f"{statistics.median(x['cpu_us_per_request'] for x in res[n]):.1f} |")
cpu_ratio = [s["cpu_us_per_request"] / x["cpu_us_per_request"] for s, x in zip(res["serve"], res["nginx"])]
rps_ratio = [s["rps"] / x["rps"] for s, x in zip(res["serve"], res["nginx"])]
print(f"roma serve / nginx, median of rounds: CPU a request {statistics.median(cpu_ratio):.2f}, "
      f"throughput {statistics.median(rps_ratio):.2f}")
if "serve-other" in names:
    cpu_ratio = [s["cpu_us_per_request"] / x["cpu_us_per_request"]
                 for s, x in zip(res["serve"], res["serve-other"])]
    print(f"roma serve / serve-other (OTHER_BUILD), median of rounds: CPU a request "
          f"{statistics.median(cpu_ratio):.2f}")
print(f"open loop at {rate:.0f} req/s: p50 added over direct: "
      + ", ".join(f"{n} {opn[n]['p50_us'] - opn['direct']['p50_us']:.0f} µs" for n in names[1:])
      + " (errors: " + ", ".join(f"{n} {opn[n]['errors']}" for n in names) + ")")
PY
