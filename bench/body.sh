#!/usr/bin/env bash
# Time to receive a request body (issue 14, reading bodies): wrk, one
# connection, posts the `resnet` test model's request as the Open Inference
# Protocol sends it (binary tensors, 0.4 MB; tfrun builds it) to a model
# that is not served.  The answer, a 404, comes as soon as the whole body
# is read, so its latency is the time to receive the body plus a constant.
# Measured on `roma worker` and on `roma serve` (which answers the 404
# itself, before any forwarding).
# With OTHER_BUILD (a directory with another build's roma and roma-worker,
# e.g. a copy of build/ before a change) both builds are measured in
# alternating rounds (this VM's speed drifts), and the median p50 of each
# is printed with the ratio.
# Usage: bash bench/body.sh [SECONDS] [ROUNDS] [OTHER_BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
other=${3:-}
hp2=../shared/testdata/tfserving/saved_model_half_plus_two_cpu
[ -d "$hp2" ] || { echo "bench: $hp2 missing (../shared)" >&2; exit 1; }
make -s build/roma build/roma-worker build/bench/tfrun
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
builds=(build)
[ -n "$other" ] && builds+=("$other")

wait_url() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

# The v2 body, from tfrun against a worker serving resnet.
build/roma worker --rest_api_port=8741 --model_name=resnet --model_base_path=models/resnet \
  >"$tmp/gen.log" 2>&1 &
wait_url localhost:8741/v1/models/resnet || { cat "$tmp/gen.log" >&2; exit 1; }
TFRUN_V2_BODY="$tmp/body.v2" build/bench/tfrun models/resnet/1 models/resnet/request.json 2 0 1 \
  http://127.0.0.1:8741/v2/models/resnet/infer 2>/dev/null >"$tmp/gen.json"
kill %1; wait 2>/dev/null || true
hlen=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["v2_header_len"])' "$tmp/gen.json")

port=8742
for i in "${!builds[@]}"; do # one worker and one roma serve per build
  b=${builds[$i]}
  "$b/roma" worker --rest_api_port=$((port + 10 * i)) --model_name=half_plus_two \
    --model_base_path="$hp2" >"$tmp/worker$i.log" 2>&1 &
  cat >"$tmp/roma$i.yaml" <<YAML
listen: 127.0.0.1:$((port + 10 * i + 1))
node: {cpus: 2, gpus: []}
control: {period: 1s, controller: static}
store: {path: $tmp/roma$i.db}
models:
  - {name: half_plus_two, base_path: $hp2, sla: 0.1, cores: {min: 1, max: 1, initial: 1}}
YAML
  "$b/roma" serve -c "$tmp/roma$i.yaml" >"$tmp/serve$i.log" 2>&1 &
  wait_url "localhost:$((port + 10 * i))/v1/models/half_plus_two"
  wait_url "localhost:$((port + 10 * i + 1))/roma/v1/models"
done

for r in $(seq "$rounds"); do
  for i in "${!builds[@]}"; do
    for target in worker serve; do
      p=$((port + 10 * i)); [ $target = serve ] && p=$((p + 1))
      BODY="$tmp/body.v2" V2_HEADER_LEN=$hlen wrk -t1 -c1 -d"$secs"s --latency -s bench/post.lua \
        "http://127.0.0.1:$p/v2/models/not_served/infer" >"$tmp/$target.$i.$r"
    done
  done
done

python3 - "$tmp" "$rounds" "${builds[@]}" <<'PY'
import re, statistics, sys
tmp, rounds, builds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
unit = {"us": 1, "ms": 1e3, "s": 1e6}
def p50(path):
    text = open(path).read()
    assert "Non-2xx" in text, "expected 404 answers"  # the model is not served
    v, u = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", text, re.M).groups()
    return float(v) * unit[u]
print(f"time to receive the resnet v2 body ({__import__('os').path.getsize(tmp + '/body.v2')} bytes): "
      f"p50 of a 404 answer, µs, median of {rounds} rounds")
print("| target | " + " | ".join(builds) + (" | ratio |" if len(builds) == 2 else " |"))
print("|---|" + "---:|" * (len(builds) + (len(builds) == 2)))
for target in ("worker", "serve"):
    med = [statistics.median(p50(f"{tmp}/{target}.{i}.{r}") for r in range(1, rounds + 1))
           for i in range(len(builds))]
    ratio = f" {med[0] / med[1]:.2f} |" if len(med) == 2 else ""
    print(f"| {target} | " + " | ".join(f"{m:.0f}" for m in med) + " |" + ratio)
PY
