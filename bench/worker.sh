#!/usr/bin/env bash
# Worker benchmark (issue: server overhead): for half_plus_two (one instance
# per request) and for CNNs, measures in one run
#   - throughput: wrk with many connections against `roma worker`,
#   - the bare TF_SessionRun of the same input (build/bench/tfrun),
#   - latency p50/p99 one request at a time: for half_plus_two with wrk
#     (one connection); for CNNs by tfrun itself, which alternates one bare
#     run and one request to the worker, so that each pair sees the same
#     machine (this VM's speed drifts by tens of percent within minutes)
# and prints the server's overhead as a ratio over the bare run (for CNNs
# the median of the pairs' ratios), and for CNNs where the served request's
# time goes, from the worker's Server-Timing answers (--server_timing=1):
# waiting for an inference thread, converting (request to tensors and
# back), TensorFlow's run, and the rest, outside the worker's handling.
# CNNs: the `resnet` test model and Keras' ResNet-50, the model the ROMA
# paper served (written to models/resnet50 on first use, random weights),
# each with TensorFlow's default spinning threads and without them, as
# roma serve runs its workers.  The row resnet-v2 sends the same input as an
# Open Inference Protocol request with binary tensors (tfrun builds it from
# the same tensors; wrk posts it with bench/post.lua's V2_HEADER_LEN).
# Usage: bash bench/worker.sh [SECONDS]    (writes results/bench_worker.json)
#        ROWS="resnet resnet-v2" bash bench/worker.sh    (only those rows)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
all_rows="half_plus_two resnet resnet-nospin resnet-v2 resnet50 resnet50-nospin"
rows=${ROWS:-$all_rows}
shared=../shared/testdata/tfserving
make -s build/roma build/roma-worker build/bench/tfrun
mkdir -p results
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

if [ -d "$shared/saved_model_half_plus_two_cpu" ]; then
  hp2_dir=$shared/saved_model_half_plus_two_cpu
else
  echo "bench: $shared missing; half_plus_two comes from ../shared only" >&2; exit 1
fi
echo '{"instances": [1.0]}' > "$tmp/hp2.json"
for m in resnet resnet50; do
  [[ " $rows " == *" $m"* ]] || continue
  [ -f "models/$m/request.json" ] || .venv/bin/python scripts/gen_models.py --out models --only "$m"
done

start_worker() { # name base_path port [spinning]
  build/roma worker --rest_api_port="$3" --model_name="$1" --model_base_path="$2" \
    --tensorflow_thread_spinning="${4:-1}" --server_timing=1 >"$tmp/$1.log" 2>&1 &
  for _ in $(seq 300); do
    curl -sf "localhost:$3/v1/models/$1" >/dev/null && return 0; sleep 0.1
  done
  cat "$tmp/$1.log" >&2; return 1
}

run_wrk() { # url body connections seconds -> wrk output file
  BODY=$2 wrk -t1 -c"$3" -d"$4"s --latency -s bench/post.lua "$1" >"$5"
}

bare() { # base_path body runs spinning predict_url_or_empty out_file
  local version; version=$(ls "$1" | sort -n | tail -1)
  TFRUN_V2_BODY=${TFRUN_V2_BODY:-} build/bench/tfrun "$1/$version" "$2" "$3" 0 "$4" ${5:+"$5"} \
    2>/dev/null >"$6"
}

# name base_path body port conns_for_throughput runs paired(0|1) [spinning] [label] [v1|v2]
# v2: the served request is the Open Inference Protocol's, binary tensors
# (paired only); tfrun writes its body to $tmp/LABEL.v2 for wrk.
measure() {
  local name=$1 dir=$2 body=$3 port=$4 conns=$5 runs=$6 paired=$7 spin=${8:-1} label=${9:-$1} url
  local api=${10:-v1} hlen=
  [[ " $rows " == *" $label "* ]] || return 0
  url="http://127.0.0.1:$port/v1/models/$name:predict"
  [ "$api" = v2 ] && url="http://127.0.0.1:$port/v2/models/$name/infer"
  start_worker "$name" "$dir" "$port" "$spin"
  if [ "$api" = v2 ]; then
    TFRUN_V2_BODY="$tmp/$label.v2" bare "$dir" "$body" "$runs" "$spin" "$url" "$tmp/$label.bare"
    hlen=$(.venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["v2_header_len"])' \
      "$tmp/$label.bare")
    V2_HEADER_LEN=$hlen run_wrk "$url" "$tmp/$label.v2" "$conns" "$secs" "$tmp/$label.tput"
    kill %1; wait 2>/dev/null || true
    return
  fi
  run_wrk "$url" "$body" 1 2 /dev/null               # warm-up
  if [ "$paired" = 1 ]; then
    bare "$dir" "$body" "$runs" "$spin" "$url" "$tmp/$label.bare"
  else
    run_wrk "$url" "$body" 1 "$secs" "$tmp/$label.lat"
    bare "$dir" "$body" "$runs" "$spin" "" "$tmp/$label.bare"
  fi
  run_wrk "$url" "$body" "$conns" "$secs" "$tmp/$label.tput"
  kill %1; wait 2>/dev/null || true
}

measure half_plus_two "$hp2_dir" "$tmp/hp2.json" 8611 32 2000 0
# The CNNs with idle TensorFlow threads spinning (TensorFlow's default) and
# sleeping (as roma serve runs its CPU workers; the bare run gets the same
# setting): spinning threads left over from one inference compete with the
# next request's parse, sleeping ones wake up later.
measure resnet models/resnet models/resnet/request.json 8612 2 400 1
measure resnet models/resnet models/resnet/request.json 8613 2 400 1 0 resnet-nospin
measure resnet models/resnet models/resnet/request.json 8616 2 400 1 1 resnet-v2 v2
measure resnet50 models/resnet50 models/resnet50/request.json 8614 2 80 1 1
measure resnet50 models/resnet50 models/resnet50/request.json 8615 2 80 1 0 resnet50-nospin

.venv/bin/python - "$tmp" $rows <<'PY'
import json, re, sys
tmp, rows = sys.argv[1], sys.argv[2:]
def wrk(path):
    text = open(path).read()
    unit = {"us": 1, "ms": 1e3, "s": 1e6}
    pct = {p: float(v) * unit[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", text, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rps": rps, "p50_us": pct["50"], "p99_us": pct["99"],
            "non_2xx": int(errors.group(1)) if errors else 0}
out = {}
for name in rows:
    bare, tput = json.load(open(f"{tmp}/{name}.bare")), wrk(f"{tmp}/{name}.tput")
    if "served_p50_us" in bare:  # paired runs
        p50, p99, errors, ratio = bare["served_p50_us"], bare["served_p99_us"], 0, bare["overhead_ratio_p50"]
    else:
        lat = wrk(f"{tmp}/{name}.lat")
        p50, p99, errors = lat["p50_us"], lat["p99_us"], lat["non_2xx"]
        ratio = (p50 - bare["p50_us"]) / bare["p50_us"]
    out[name] = {"throughput_rps": tput["rps"], "p50_us": p50, "p99_us": p99,
                 "bare_p50_us": bare["p50_us"], "bare_p99_us": bare["p99_us"],
                 "overhead_p50_us": p50 - bare["p50_us"], "overhead_ratio_p50": ratio,
                 "paired": "served_p50_us" in bare, "errors": errors + tput["non_2xx"]}
    for part in ("queue", "convert", "run", "outside"):
        if f"served_{part}_us" in bare:
            out[name][f"served_{part}_us"] = bare[f"served_{part}_us"]
json.dump(out, open("results/bench_worker.json", "w"), indent=1)
print("| model | throughput req/s | p50 µs | p99 µs | bare TF_SessionRun p50 µs | overhead p50 µs | overhead / bare |")
print("|---|---:|---:|---:|---:|---:|---:|")
for n, r in out.items():
    print(f"| {n} | {r['throughput_rps']:.0f} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | "
          f"{r['bare_p50_us']:.0f} | {r['overhead_p50_us']:.0f} | {100*r['overhead_ratio_p50']:.1f}% |")
print("CNN rows: one bare run and one served request alternate; overhead / bare is the "
      "median of the pairs' ratios")
split = {n: r for n, r in out.items() if "served_run_us" in r}
if split:
    print("\nwhere a served CNN request's time goes (medians, µs; the worker's Server-Timing):")
    print("| model | queue | convert | run | bare run | outside the handling |")
    print("|---|---:|---:|---:|---:|---:|")
    for n, r in split.items():
        print(f"| {n} | {r['served_queue_us']:.0f} | {r['served_convert_us']:.0f} | "
              f"{r['served_run_us']:.0f} | {r['bare_p50_us']:.0f} | {r['served_outside_us']:.0f} |")
PY
