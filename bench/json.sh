#!/usr/bin/env bash
# What parsing a large predict body costs (README "Dependencies"): jansson's
# tree against the worker's fast path, one thread and two, on the generated
# models' image requests.  One JSON line a model (medians of RUNS, default 30).
#   bash bench/json.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/bench/jsonparse
for m in resnet mobilenet; do
    body="models/$m/request.json"
    [ -f "$body" ] || { echo "bench/json.sh: $body missing: run scripts/gen_models.py --out models" >&2; exit 1; }
    build/bench/jsonparse "$body" "${1:-30}"
done
