#!/usr/bin/env bash
# Creates .venv and installs jupyter-trevor with its test extras (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# System packages the browser tests need (Debian's Chromium; never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: chromium is not installed; browser tests will fail (apt-get install chromium)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[test]"
# JupyterLab extension: build labextension/ and link it into the venv (needs Node >= 20.19)
bash scripts/build-labextension.sh
