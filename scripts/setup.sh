#!/usr/bin/env bash
# Installs everything ROMA needs on a fresh Debian 12 machine, idempotently:
# the Debian -dev packages it links against, a project-local Python venv with
# the pinned tensorflow-cpu wheel (its C library and headers are what build/roma
# links to), the test tools, then builds build/roma and the test models.
set -euo pipefail
cd "$(dirname "$0")/.."

TF_VERSION=2.21.0
DEB_PACKAGES="build-essential pkg-config libevent-dev libjansson-dev libyaml-dev
  libsqlite3-dev libcmocka-dev libcurl4-openssl-dev libhttp-parser-dev wrk curl clang libclang-rt-14-dev lld
  nginx chromium chromium-driver libjs-chart.js"

missing=""
for p in $DEB_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import tensorflow, sys; sys.exit(tensorflow.__version__ != '$TF_VERSION')" 2>/dev/null; then
  echo "setup: installing tensorflow-cpu==$TF_VERSION into .venv (large wheel, a few minutes)"
  .venv/bin/pip install -q "tensorflow-cpu==$TF_VERSION"
fi
# kubernetes-validate 1.37.0 carries the Kubernetes 1.35 schemas tests/k8s validates against.
.venv/bin/python -c "import pytest, requests, matplotlib, kubernetes_validate, tritonclient.http, selenium" 2>/dev/null ||
  .venv/bin/pip install -q pytest requests matplotlib kubernetes-validate==1.37.0 "tritonclient[http]==2.73.0" selenium==4.51.0

make -j2 all
if [ ! -f models/.complete ]; then
  echo "setup: writing test models into models/"
  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python scripts/gen_models.py --out models
  touch models/.complete
fi
