# Sourced by the scripts: keeps every cache inside the checkout, or (pip's, which is large and
# worth keeping between fresh clones) in the system temp directory.
ROOT="$(pwd)"
export VENV="${TREVOR_VENV:-$ROOT/.venv}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-${TMPDIR:-/tmp}/jupyter-trevor-pip-cache}"
export YARN_CACHE_FOLDER="$ROOT/.cache/yarn"
export YARN_GLOBAL_FOLDER="$ROOT/.cache/yarn-global"
export npm_config_cache="$ROOT/.cache/npm"
export JUPYTER_CONFIG_DIR="$ROOT/.cache/jupyter/config"
export JUPYTER_DATA_DIR="$ROOT/.cache/jupyter/data"
export JUPYTER_RUNTIME_DIR="$ROOT/.cache/jupyter/runtime"
export IPYTHONDIR="$ROOT/.cache/ipython"
export MPLCONFIGDIR="$ROOT/.cache/matplotlib"
export PATH="$VENV/bin:$PATH"
