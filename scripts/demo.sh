#!/usr/bin/env bash
# One command for a fresh machine: set up, then run the demo — the trevor backend (embedded
# SQLite + local object store, demo users) and JupyterLab with the Airlock panel, signed in as
# the demo researcher alice, with a sample notebook.
#
#   bash scripts/demo.sh           # run until Ctrl-C
#   bash scripts/demo.sh --check   # start both, verify they answer, stop (used by CI)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
DEMO="${TREVOR_DEMO_DIR:-$ROOT/.demo}"
BACKEND_PORT="${TREVOR_DEMO_BACKEND_PORT:-8585}"
LAB_PORT="${TREVOR_DEMO_LAB_PORT:-8888}"
LAB_TOKEN="${TREVOR_DEMO_LAB_TOKEN:-trevor-demo}"
mkdir -p "$DEMO/workspace"
cp -n binder/*.ipynb "$DEMO/workspace/" 2>/dev/null || true

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

wait_for() {  # url, name
  for _ in $(seq 1 300); do
    if python -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "error: $2 did not start (logs in $DEMO)" >&2
  exit 1
}

TREVOR_DATA_DIR="$DEMO/trevor-data" trevor-backend demo --port "$BACKEND_PORT" \
  > "$DEMO/backend.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$BACKEND_PORT/health" "trevor-backend"
ALICE=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['alice'])" \
  "$DEMO/trevor-data/demo-tokens.json")

LAB_ARGS=()
# Containers and CI often run as root; JupyterLab refuses that unless told.
[ "$(id -u)" = 0 ] && LAB_ARGS+=(--allow-root)
(cd "$DEMO/workspace" && TREVOR_BACKEND_URL="http://127.0.0.1:$BACKEND_PORT" \
  TREVOR_TOKEN="$ALICE" TREVOR_PROJECT=p1 \
  jupyter lab --no-browser --port "$LAB_PORT" --IdentityProvider.token="$LAB_TOKEN" \
  --ServerApp.root_dir="$DEMO/workspace" "${LAB_ARGS[@]}" > "$DEMO/jupyterlab.log" 2>&1) &
pids+=($!)
wait_for "http://127.0.0.1:$LAB_PORT/api/status?token=$LAB_TOKEN" "JupyterLab"

echo
echo "trevor demo is running"
echo "  JupyterLab (as researcher alice): http://127.0.0.1:$LAB_PORT/lab?token=$LAB_TOKEN"
echo "  Review backend API:               http://127.0.0.1:$BACKEND_PORT/api/v1"
echo "  Demo API tokens (checkers carol, dave; admin root):"
sed -n 's/^ *"\([a-z]*\)": "\(.*\)",\{0,1\}$/    \1  \2/p' "$DEMO/trevor-data/demo-tokens.json"
if [ "$CHECK" = 1 ]; then
  # The Airlock's server extension answers inside JupyterLab, and reaches the backend.
  wait_for "http://127.0.0.1:$LAB_PORT/trevor/version?token=$LAB_TOKEN" "the trevor server extension"
  wait_for "http://127.0.0.1:$LAB_PORT/trevor/api/users/me?token=$LAB_TOKEN" "the backend proxy"
  echo "--check: both servers answer; stopping."
  exit 0
fi
echo "Press Ctrl-C to stop."
wait
