#!/usr/bin/env bash
# Sets up a virtual environment inside the checkout and runs the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh

# The PostgreSQL suites run against the local server (trust auth, database `test`) when this
# machine has one: start it if it is stopped, and point the tests at it unless told otherwise.
if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q && command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if pg_isready -h 127.0.0.1 -p 5432 -q; then
    export TREVOR_TEST_DATABASE_URL="${TREVOR_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
  fi
fi

# The slowest tests are listed at the end, so a run that grew slower shows where.
exec "$VENV/bin/python" -m pytest -p no:cacheprovider --durations=25 "$@"
