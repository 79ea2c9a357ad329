#!/usr/bin/env bash
# The README's serve command: sets everything up, then starts `roma serve` on
# the embedded default (examples/roma.yaml: this machine's cores, the SQLite
# store in results/, local cgroups, the generated test models) on port 8501.
# Extra arguments go to roma serve; ROMA_CONFIG picks another config.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p results
exec build/roma serve -c "${ROMA_CONFIG:-examples/roma.yaml}" "$@"
