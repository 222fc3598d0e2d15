#!/usr/bin/env bash
# Sets up a virtual environment inside the checkout and runs the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh
exec "$VENV/bin/python" -m pytest "$@"
