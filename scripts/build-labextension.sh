#!/usr/bin/env bash
# Builds the JupyterLab extension (labextension/, TypeScript) into jupyter_trevor/labextension
# and links it into the virtual environment so `jupyter lab` loads it from this checkout.
# Idempotent and quick when nothing changed. Needs Node >= 20.19 and the venv's jlpm.
# Usage: bash scripts/build-labextension.sh [--test]   (--test also runs the jest suite)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cd labextension
# --immutable: the committed yarn.lock is the truth; a drifted lock fails here, not at runtime.
jlpm install --immutable
jlpm build:prod
if [ "${1:-}" = "--test" ]; then
  jlpm test --ci
fi
cd ..
# Editable installs do not copy share/jupyter/labextensions; link the build instead.
"$VENV/bin/jupyter" labextension develop --overwrite . >/dev/null
"$VENV/bin/jupyter" labextension list 2>&1 | grep -q "jupyter-trevor.*enabled.*OK" || {
  echo "jupyter-trevor labextension is not enabled/OK:" >&2
  "$VENV/bin/jupyter" labextension list >&2
  exit 1
}
echo "labextension built: jupyter_trevor/labextension"
