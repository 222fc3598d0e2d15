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
# The identity tests' real servers, from npm by lockfile into the checkout: the certified OpenID
# provider (oidc-provider) and JupyterHub's proxy (configurable-http-proxy).
if command -v npm >/dev/null 2>&1; then
  idnode=tests/identity/node
  lock_want="$(sha256sum "$idnode/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$idnode/node_modules/.trevor-lock.sha256" 2>/dev/null)" != "$lock_want" ]; then
    echo "==> setup: identity test servers (npm ci in $idnode)"
    (cd "$idnode" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_want" > "$idnode/node_modules/.trevor-lock.sha256"
  fi
else
  echo "warning: npm is not installed; the identity tests will fail" >&2
fi
