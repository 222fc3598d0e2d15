#!/usr/bin/env bash
# Creates .venv and installs jupyter-trevor with its test extras (idempotent; a re-run skips
# what is already installed and unchanged, so the demo restarts in seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

START=$SECONDS
step() { printf '==> [%3ds] setup: %s\n' "$((SECONDS - START))" "$*"; }

# System packages the browser tests need (Debian's Chromium; never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Debian's chromium (browser tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: chromium is not installed; browser tests will fail (apt-get install chromium)" >&2
  fi
fi

# The API benchmark (benchmarks/api.py) loads the backend with wrk, Debian's package.
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Debian's wrk (benchmarks/api.py)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "warning: wrk is not installed; benchmarks/api.py needs it (apt-get install wrk)" >&2
  fi
fi

# The image tests (tests/deploy/test_image.py) build the backend image with podman from a base
# that mmdebstrap makes from Debian packages; pg_dump/pg_restore play the backup runbook.
if ! command -v podman >/dev/null 2>&1 || ! command -v mmdebstrap >/dev/null 2>&1 \
  || ! command -v pg_dump >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing podman, mmdebstrap and the PostgreSQL client (image and backup tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      podman mmdebstrap uidmap postgresql-client >/dev/null
  else
    echo "warning: podman/mmdebstrap/pg_dump missing; tests/deploy will fail" >&2
  fi
fi

# A venv whose creation was interrupted has a python but no pip: start it again.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  step "creating $VENV"
  python3 -m venv --clear "$VENV"
fi
# The editable install only changes when pyproject.toml (dependencies, entry points) does.
stamp="$VENV/.trevor-install.sha256"
want="$(cat pyproject.toml "$VENV/pyvenv.cfg" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  step "Python packages up to date (pyproject.toml unchanged)"
else
  step "installing Python packages (pip; the first run takes a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # Not --quiet: pip's own progress (a line per package, a bar on a terminal) shows it working.
  "$VENV/bin/python" -m pip install -e ".[test]"
  echo "$want" > "$stamp"
fi
# JupyterLab extension: build labextension/ and link it into the venv (needs Node >= 20.19)
step "JupyterLab extension"
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
# axe-core for the dashboard's browser test (accessibility checks), by lockfile likewise.
if command -v npm >/dev/null 2>&1; then
  axenode=tests/dashboard_browser/node
  axe_want="$(sha256sum "$axenode/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$axenode/node_modules/.trevor-lock.sha256" 2>/dev/null)" != "$axe_want" ]; then
    echo "==> setup: axe-core (npm ci in $axenode)"
    (cd "$axenode" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$axe_want" > "$axenode/node_modules/.trevor-lock.sha256"
  fi
fi
step "done"
