# lib_serve.sh - pieces bench/serve.sh and bench/proxy.sh share (sourced):
# roma serve on half_plus_two, a standalone twin of its worker, CPU ticks
# of a process, wrk's closed loop and roma bench's open loop on the model.
# Callers set $tmp (a scratch directory) and run from the project root.
hp2=../shared/testdata/tfserving/saved_model_half_plus_two_cpu
[ -d "$hp2" ] || { echo "bench: $hp2 missing (../shared)" >&2; exit 1; }
echo '{"instances": [1.0]}' >"$tmp/body.json"

# roma serve on PORT with half_plus_two, cores min = max = the whole
# machine (neither the cgroup nor the pinning limits), from BUILD_DIR's
# roma (default build/); sets serve_pid and wpid (its worker's pid).
start_serve() { # port [build_dir]
  cat >"$tmp/roma.$1.yaml" <<YAML
listen: 127.0.0.1:$1
node: {cpus: 2, gpus: []}
control: {period: 1s, controller: static}
dispatch: {queue_limit: 100000}
store: {path: $tmp/roma.$1.db}
models:
  - {name: half_plus_two, base_path: $hp2, sla: 0.1, cores: {min: 2, max: 2, initial: 2}}
YAML
  "${2:-build}/roma" serve -c "$tmp/roma.$1.yaml" >"$tmp/serve.$1.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 100); do
    curl -sf "localhost:$1/roma/v1/workers" | grep -q '"ready"' && break; sleep 0.1
  done
  read -r _ wpid < <(curl -s "localhost:$1/roma/v1/workers" |
    python3 -c "import json,sys; w = json.load(sys.stdin)['workers'][0]; print(w['port'], w['pid'])")
}

# A worker roma serve started answers only roma serve (X-Roma-Secret), so
# a direct path goes to its twin: the same program, flags and model, on a
# port of its own (not the listening socket roma serve passed down to its
# worker, --rest_api_fd), without the secret; sets dpid.
start_twin() { # port
  local wargs args=() a
  mapfile -d '' wargs <"/proc/$wpid/cmdline"
  for a in "${wargs[@]:1}"; do [[ $a == --rest_api_fd=* ]] || args+=("$a"); done
  "$(readlink "/proc/$wpid/exe")" "${args[@]}" --rest_api_port="$1" >"$tmp/direct.log" 2>&1 &
  dpid=$!
  for _ in $(seq 100); do
    curl -sf "localhost:$1/v1/models/half_plus_two" >/dev/null && break; sleep 0.1
  done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks

wrk_run() { # port conns seconds out
  BODY="$tmp/body.json" wrk -t1 -c"$2" -d"$3"s --latency -s bench/post.lua \
    "http://127.0.0.1:$1/v1/models/half_plus_two:predict" >"$4"
}

open_loop() { # port rate seconds out.json
  TF_CPP_MIN_LOG_LEVEL=3 build/roma bench --target "http://127.0.0.1:$1" --model half_plus_two \
    --payload "$tmp/body.json" --rate "$2" --duration "$3" --sla 0.1 --out "$4" 2>/dev/null
}
