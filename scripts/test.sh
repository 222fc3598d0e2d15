#!/usr/bin/env bash
# Sets up a virtual environment inside the checkout and runs the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh

# The PostgreSQL suites need the local server; start it if this machine has one stopped.
if [ -n "${TREVOR_TEST_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q && command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi

exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
