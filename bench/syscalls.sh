#!/usr/bin/env bash
# roma serve's system calls per proxied request (issue 14): roma serve on
# half_plus_two (bench/lib_serve.sh), N sequential requests on one
# keep-alive connection (after a warm-up of 50 on it), counted with
# `strace -c -f -p` on roma serve's process (its worker not included).
# Counts, not times: they hold on a busy machine.  The count includes what
# roma serve's timers do meanwhile (control period, sampler, store; a few
# dozen calls a second), which the per-request figure spreads over N.
# Usage: bash bench/syscalls.sh [N] [BUILD_DIR]   (prints strace's table, then calls a request by
# system call)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
build=${2:-build}
command -v strace >/dev/null || { echo "bench: strace missing (apt-get install strace)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
. bench/lib_serve.sh
port=${PORT:-8771}
start_serve "$port" "$build"
# the client connects and warms up, then waits for strace to attach (file go)
cat >"$tmp/client.py" <<'PY'
import http.client, os, sys, time
port, n, body, tmp = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read(), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port)
def one():
    c.request("POST", "/v1/models/half_plus_two:predict", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 200: sys.exit(f"status {r.status}")
for _ in range(50): one()
open(tmp + "/ready", "w").close()
while not os.path.exists(tmp + "/go"): time.sleep(0.05)
for _ in range(n): one()
print("ok", n)
PY
python3 "$tmp/client.py" "$port" "$n" "$tmp/body.json" "$tmp" >"$tmp/client.out" &
client=$!
for _ in $(seq 100); do [ -e "$tmp/ready" ] && break; sleep 0.1; done
strace -c -f -p "$serve_pid" -o "$tmp/strace.txt" &
tracer=$!
sleep 1 # strace attached to every thread
touch "$tmp/go"
wait "$client"
kill -INT "$tracer"; wait "$tracer" || true
cat "$tmp/client.out"
cat "$tmp/strace.txt"
# per request: the calls column (errors, when given, come before the name)
awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 {c = $4; name = $NF; if (name == "total") t = c; else
  printf "%-14s %6.2f a request\n", name, c / n} END {printf "%-14s %6.2f a request\n", "total", t / n}' \
  "$tmp/strace.txt"
