#!/usr/bin/env bash
# The soak under faults (issue 16): roma serve with two models at about 70%
# of their measured capacity for MINUTES (default 10) and one fault every
# ~20 s; checks that nothing is lost and nothing leaks (bench/soak.py says
# how).  Results: results/soak-<stamp>.json, .png and -serve.log.
# Root (for the tmpfs and cgroup faults) is used when present; the faults
# that need it are skipped with a message otherwise.
#   bash bench/soak.sh [MINUTES] [--seed N] [--out DIR] ...
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/roma ] || make -j2 build/roma build/roma-worker >/dev/null
exec .venv/bin/python bench/soak.py "$@"
