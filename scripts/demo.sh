#!/usr/bin/env bash
# One command for a fresh machine: set up, then run the demo — the trevor backend (embedded
# SQLite + local object store, demo users), a JupyterLab for the researcher alice with a sample
# notebook, and a JupyterLab per demo output checker (carol, dave), so every role can be played.
#
#   bash scripts/demo.sh           # run until Ctrl-C (or SIGTERM)
#   bash scripts/demo.sh --check   # start everything, verify it answers, stop (used by CI)
#
# Every server runs in its own process group and is stopped with its children when the script
# ends, however it ends (normal exit, --check, Ctrl-C, SIGTERM, an error).
# Settings (environment): TREVOR_DEMO_DIR (.demo), TREVOR_DEMO_BACKEND_PORT (8585),
# TREVOR_DEMO_LAB_PORT (8888; checkers' labs use the next ports), TREVOR_DEMO_LAB_TOKEN
# (trevor-demo), TREVOR_DEMO_CHECKERS ("carol dave"; "" starts no checker lab).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

START=$SECONDS
step() { printf '==> [%3ds] %s\n' "$((SECONDS - START))" "$*"; }

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
DEMO="${TREVOR_DEMO_DIR:-$ROOT/.demo}"
BACKEND_PORT="${TREVOR_DEMO_BACKEND_PORT:-8585}"
LAB_PORT="${TREVOR_DEMO_LAB_PORT:-8888}"
LAB_TOKEN="${TREVOR_DEMO_LAB_TOKEN:-trevor-demo}"
CHECKERS="${TREVOR_DEMO_CHECKERS-carol dave}"
BACKEND="http://127.0.0.1:$BACKEND_PORT"

step "setting up .venv and the JupyterLab extension (skipped when already done)"
bash scripts/setup.sh

# Process groups of the servers we start; each is stopped whole (a server and its children).
groups=()
stop_all() {
  local pg
  trap - EXIT INT TERM
  [ "${#groups[@]}" -eq 0 ] && return 0
  echo "stopping the demo servers"
  for pg in "${groups[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for _ in $(seq 1 100); do  # up to 20 s for a clean shutdown (kernels, SQLite)
    local alive=0
    for pg in "${groups[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.2
  done
  for pg in "${groups[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# `set -m` gives each background job its own process group (its pid is the group id), and
# `exec` inside the job makes that pid the server itself, not a wrapper subshell.
start() {  # log file, command...
  local log="$1"
  shift
  set -m
  (exec "$@" > "$log" 2>&1) &
  groups+=("$!")
  set +m
}

wait_for() {  # url, name
  for _ in $(seq 1 600); do
    if python -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "error: $2 did not start (logs in $DEMO)" >&2
  exit 1
}

token_of() {  # username
  python -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
    "$DEMO/trevor-data/demo-tokens.json" "$1"
}

# One JupyterLab per demo user: its own workspace, settings (news prompt off) and token.
start_lab() {  # user, port, project ("" for a checker)
  local user="$1" port="$2" project="$3" dir="$DEMO/$1"
  mkdir -p "$dir/workspace" "$dir/settings/@jupyterlab/apputils-extension"
  echo '{"fetchNews": "false"}' > "$dir/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
  local args=(--no-browser --ServerApp.ip=127.0.0.1 --port "$port" --ServerApp.port_retries=0
    --IdentityProvider.token="$LAB_TOKEN" --ServerApp.root_dir="$dir/workspace"
    --LabApp.user_settings_dir="$dir/settings" --LabApp.workspaces_dir="$dir/lab-workspaces"
    --LabApp.news_url= --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate)
  # Containers and CI often run as root; JupyterLab refuses that unless told.
  [ "$(id -u)" = 0 ] && args+=(--allow-root)
  start "$DEMO/jupyterlab-$user.log" env TREVOR_BACKEND_URL="$BACKEND" \
    TREVOR_TOKEN="$(token_of "$user")" TREVOR_PROJECT="$project" \
    JUPYTER_RUNTIME_DIR="$dir/runtime" jupyter lab "${args[@]}"
}

mkdir -p "$DEMO/alice/workspace"
cp -n binder/*.ipynb "$DEMO/alice/workspace/" 2>/dev/null || true

step "starting trevor-backend on port $BACKEND_PORT (log: $DEMO/backend.log)"
start "$DEMO/backend.log" env TREVOR_DATA_DIR="$DEMO/trevor-data" \
  trevor-backend demo --port "$BACKEND_PORT"
wait_for "$BACKEND/health" "trevor-backend"
for _ in $(seq 1 100); do [ -s "$DEMO/trevor-data/demo-tokens.json" ] && break; sleep 0.2; done

step "starting JupyterLab for researcher alice on port $LAB_PORT"
start_lab alice "$LAB_PORT" p1
port=$LAB_PORT
checker_ports=()
for checker in $CHECKERS; do
  port=$((port + 1))
  step "starting JupyterLab for output checker $checker on port $port"
  start_lab "$checker" "$port" ""
  checker_ports+=("$port")
done
wait_for "http://127.0.0.1:$LAB_PORT/api/status?token=$LAB_TOKEN" "JupyterLab (alice)"
for port in "${checker_ports[@]}"; do
  wait_for "http://127.0.0.1:$port/api/status?token=$LAB_TOKEN" "JupyterLab (port $port)"
done
step "ready"

lab() { echo "http://127.0.0.1:$1/lab$2?token=$LAB_TOKEN"; }
cat <<MSG

trevor demo is running (stop it with Ctrl-C). Who is who, and what to try:

  Researcher alice (project p1)
    JupyterLab (as researcher alice): $(lab "$LAB_PORT" /tree/demo.ipynb)
    Run demo.ipynb cell by cell: it tags a table for the airlock. Open the Airlock panel
    (left sidebar), put the table in a new request, describe it and submit.
MSG
i=0
for checker in $CHECKERS; do
  echo "  Output checker $checker (project p1)"
  echo "    JupyterLab (as checker $checker): $(lab "${checker_ports[$i]}" "")"
  i=$((i + 1))
done
[ -n "$CHECKERS" ] && cat <<MSG
    Once the automatic check has run, the request is in each checker's review queue in the
    Airlock panel. Two independent reviews decide it: ask for changes (say, "round to base 5")
    and alice sees the feedback, replaces the table with the notebook's fixed version and
    resubmits; approve both times and the released package appears in her panel.
MSG
cat <<MSG
  Admin root
    Admin dashboard: $BACKEND/dashboard/ (root's token below)
  Review backend API: $BACKEND/api/v1/  (human docs: $BACKEND/api/v1/docs)
  Demo API tokens (researchers alice, bob; checkers carol, dave, senior checker erin; admin root):
MSG
sed -n 's/^ *"\([a-z]*\)": "\(.*\)",\{0,1\}$/    \1  \2/p' "$DEMO/trevor-data/demo-tokens.json"
echo "  Logs: $DEMO/*.log"

if [ "$CHECK" = 1 ]; then
  # The Airlock's server extension answers inside JupyterLab, and reaches the backend.
  wait_for "http://127.0.0.1:$LAB_PORT/trevor/version?token=$LAB_TOKEN" "the trevor server extension"
  wait_for "http://127.0.0.1:$LAB_PORT/trevor/api/users/me?token=$LAB_TOKEN" "the backend proxy"
  for port in "${checker_ports[@]}"; do
    wait_for "http://127.0.0.1:$port/trevor/api/review-queue?token=$LAB_TOKEN" "the checker's proxy"
  done
  wait_for "$BACKEND/api/v1/" "the API index"
  echo "--check: both servers answer; stopping."
  exit 0
fi
# `wait` returns when a server exits or a trapped signal arrives; either way, stop everything.
wait -n || true
echo "a demo server stopped by itself (logs in $DEMO); stopping the rest" >&2
exit 1
