#!/usr/bin/env bash
# "Threads follow cores" benchmark (DESIGN.md §2): p50/p99 of one CNN on a
# worker whose cgroup holds it at 0.5, 1, 1.5 and 2 cores, with TensorFlow's
# default thread pools (sized from the host's cores) next to ROMA's policy,
# as `roma serve` runs a CPU worker whose cores.max is the whole host:
# ceil(max) intra- and inter-op threads that sleep when idle (no spinning),
# pinned to ceil(cores) CPUs (the
# quota gives the fraction), at most ceil(cores) inferences at once; in one
# run, the two policies alternating at each point, ROUNDS times (default 3:
# on a shared 2-core VM one measurement moves by 10-20%), each figure the
# median of its rounds.
# Usage: bash bench/threads.sh [SECONDS] [CONNECTIONS] [MODEL] [ROUNDS]   (needs root + cgroup v1 cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-1}; model=${3:-resnet}; rounds=${4:-3}
cg=/sys/fs/cgroup/cpu/roma-bench-threads
[ -w /sys/fs/cgroup/cpu ] || { echo "bench: needs a writable cgroup v1 cpu controller (root)" >&2; exit 1; }
make -s build/roma
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rmdir "$cg" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$cg"; echo 100000 > "$cg/cpu.cfs_period_us"

run() { # cores policy -> "p50_us p99_us rps"
  local cores=$1 policy=$2 port=8720 flags pin n max
  max=$(nproc)
  n=$(python3 -c "import math;print(math.ceil($cores))")
  if [ "$policy" = roma ]; then
    flags="--tensorflow_intra_op_parallelism=$max --tensorflow_inter_op_parallelism=$max --tensorflow_thread_spinning=0 --rest_api_num_threads=$n"
    pin="0-$((n - 1))"
  else
    flags="--rest_api_num_threads=$max"
    pin="0-$((max - 1))"
  fi
  echo "$(python3 -c "print(int($cores*100000))")" > "$cg/cpu.cfs_quota_us"
  sh -c "echo \$\$ > $cg/cgroup.procs; exec taskset -c $pin build/roma worker --rest_api_port=$port --model_name=$model --model_base_path=models/$model $flags" >"$tmp/w.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do curl -sf "localhost:$port/v1/models/$model" >/dev/null && break; sleep 0.1; done
  BODY=models/$model/request.json wrk -t1 -c"$conns" -d2s -s bench/post.lua "http://127.0.0.1:$port/v1/models/$model:predict" >/dev/null
  BODY=models/$model/request.json wrk -t1 -c"$conns" -d"${secs}"s --latency -s bench/post.lua \
    "http://127.0.0.1:$port/v1/models/$model:predict" >"$tmp/wrk.txt"
  kill $pid; wait $pid 2>/dev/null || true
  python3 - "$tmp/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read(); u = {"us": 1, "ms": 1e3, "s": 1e6}
p = {k: float(v) * u[s] for k, v, s in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", t, re.M)}
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
print("%.1f %.1f %.1f" % (p["50"] / 1e3, p["99"] / 1e3, rps))
PY
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "model $model, $conns connection(s), ${secs}s per point, median of $rounds alternating rounds"
echo "| cores | TF default p50 ms | p99 ms | req/s | ROMA p50 ms | p99 ms | req/s |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for cores in 0.5 1 1.5 2; do
  d50=(); d99=(); drps=(); r50=(); r99=(); rrps=()
  for _ in $(seq "$rounds"); do
    read -r a b c < <(run "$cores" default); d50+=("$a"); d99+=("$b"); drps+=("$c")
    read -r a b c < <(run "$cores" roma); r50+=("$a"); r99+=("$b"); rrps+=("$c")
  done
  echo "| $cores | $(median "${d50[@]}") | $(median "${d99[@]}") | $(median "${drps[@]}") | $(median "${r50[@]}") | $(median "${r99[@]}") | $(median "${rrps[@]}") |"
done
