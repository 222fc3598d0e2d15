#!/usr/bin/env bash
# Builds the JupyterLab extension (labextension/, TypeScript) into jupyter_trevor/labextension
# (and vendors Swagger UI for the backend's /api/v1/docs), and links it into the virtual
# environment so `jupyter lab` loads it from this checkout. Skips the build when its inputs are
# unchanged since the last successful build. Needs Node >= 20.19 and the venv's jlpm.
# Usage: bash scripts/build-labextension.sh [--test]   (--test also runs the jest suite)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# Everything the build reads, except generated files (contract.gen.ts comes from openapi.json).
inputs_hash() {
  {
    find labextension/src labextension/style labextension/scripts -type f \
      ! -name contract.gen.ts ! -path '*/__tests__/*' -print0 | sort -z | xargs -0 sha256sum
    sha256sum labextension/package.json labextension/yarn.lock labextension/tsconfig.json \
      docs/openapi.json install.json
  } | sha256sum | cut -d' ' -f1
}
# Kept outside the build output (which ships in the wheel); .cache/ is git-ignored.
stamp=.cache/labextension-build-inputs.sha256
want="$(inputs_hash)"
if [ "${1:-}" != "--test" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
  && [ -f jupyter_trevor/labextension/static/style.js ] \
  && [ -f backend/trevor_backend/static/apidocs/vendor/swagger-ui-bundle.js ] \
  && [ -e "$VENV/share/jupyter/labextensions/jupyter-trevor" ]; then
  echo "labextension up to date (sources unchanged since the last build): skipped"
  exit 0
fi

cd labextension
# --immutable: the committed yarn.lock is the truth; a drifted lock fails here, not at runtime.
echo "labextension: jlpm install"
jlpm install --immutable
echo "labextension: TypeScript"
jlpm clean:lib
jlpm build:lib:prod
# Built beside the shipped tree and swapped in at once (jlpm build:prod would rewrite it in
# place): running labs and browser tests read jupyter_trevor/labextension during a rebuild.
# The builder takes its output directory only from package.json, so it builds a staging
# package: the same package.json with another outputDir, and links to lib/, style/ and
# node_modules/.
echo "labextension: webpack (staged, then swapped in)"
stage=../.cache/labextension-stage
fresh=../.cache/labextension-new
rm -rf "$stage" "$fresh"
mkdir -p "$stage"
ln -s "$PWD/node_modules" "$PWD/lib" "$PWD/style" "$stage/"
node -e '
  const pkg = require("./package.json");
  pkg.jupyterlab.outputDir = "../labextension-new";
  process.stdout.write(JSON.stringify(pkg, null, 2));
' > "$stage/package.json"
"$VENV/bin/jupyter" labextension build "$stage"
rm -rf "$stage"
# The built package.json ships: it names the real outputDir, not the staging one.
node -e '
  const fs = require("fs");
  const built = "../.cache/labextension-new/package.json";
  const pkg = JSON.parse(fs.readFileSync(built, "utf8"));
  pkg.jupyterlab.outputDir = require("./package.json").jupyterlab.outputDir;
  fs.writeFileSync(built, JSON.stringify(pkg, null, 2) + "\n");
'
echo "labextension: Swagger UI for /api/v1/docs"
jlpm build:apidocs
if [ "${1:-}" = "--test" ]; then
  jlpm test --ci
fi
cd ..
if [ -d jupyter_trevor/labextension ]; then
  "$VENV/bin/python" scripts/exchange_dirs.py .cache/labextension-new jupyter_trevor/labextension
  rm -rf .cache/labextension-new
else
  mv .cache/labextension-new jupyter_trevor/labextension
fi
# Editable installs do not copy share/jupyter/labextensions; link the build instead. Only when
# the link is not there yet: relinking removes it first, and a running lab would miss it.
link="$VENV/share/jupyter/labextensions/jupyter-trevor"
if [ "$(readlink -f "$link" 2>/dev/null)" != "$(pwd -P)/jupyter_trevor/labextension" ]; then
  "$VENV/bin/jupyter" labextension develop --overwrite . >/dev/null
fi
"$VENV/bin/jupyter" labextension list 2>&1 | grep -q "jupyter-trevor.*enabled.*OK" || {
  echo "jupyter-trevor labextension is not enabled/OK:" >&2
  "$VENV/bin/jupyter" labextension list >&2
  exit 1
}
# Written last: an interrupted build leaves no stamp and is redone next time.
mkdir -p .cache
echo "$want" > "$stamp"
echo "labextension built: jupyter_trevor/labextension"
