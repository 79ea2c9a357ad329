#!/usr/bin/env bash
# The README's serve command: sets everything up, then serves the generated
# test models with `roma worker` on port 8501 (TF Serving's REST port).
# Extra arguments are passed to roma worker, e.g. --rest_api_port=9000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/roma worker --model_config_file=examples/models.config "$@"
