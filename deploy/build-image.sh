#!/usr/bin/env bash
# Build the trevor backend image from deploy/Containerfile.
#
#   deploy/build-image.sh [TAG]                  # operators: BASE_IMAGE from your registry
#   deploy/build-image.sh --debian-base [TAG]    # no registry: a base made with mmdebstrap
#
# Operators: ENGINE=docker|podman (default podman), BASE_IMAGE (default python:3.12-slim),
# WHEEL=path/to/jupyter_trevor-*.whl to package a wheel built elsewhere (CI) instead of this tree.
#
# --debian-base is what the tests use on a machine that reaches Debian's and PyPI's package
# archives but no image registry: the base image is a Debian minbase with python3 made by
# mmdebstrap, the dependencies are downloaded as wheels on the host (same Python minor version
# as the base) and installed offline in the build, and podman runs with the vfs storage driver
# and chroot isolation (no overlay mounts or user namespaces needed). Everything slow is cached
# under $TREVOR_IMAGE_CACHE (default: the system temp dir), so a repeat build only reinstalls the
# changed wheel. Prints the image id on its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEBIAN_BASE=0
if [ "${1:-}" = "--debian-base" ]; then
  DEBIAN_BASE=1
  shift
fi
TAG="${1:-localhost/trevor-backend:dev}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
CACHE="${TREVOR_IMAGE_CACHE:-${TMPDIR:-/tmp}/trevor-image-cache}"
SUITE="${DEBIAN_SUITE:-bookworm}"
BASE_PACKAGES="python3,python3-venv,ca-certificates"
VERSION="$("$PYTHON" -c 'import runpy; print(runpy.run_path("'"$ROOT"'/jupyter_trevor/_version.py")["__version__"])')"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

mkdir -p "$CACHE"
CONTEXT="$(mktemp -d "$CACHE/context.XXXXXX")"
trap 'rm -rf "$CONTEXT"' EXIT
mkdir -p "$CONTEXT/dist"

if [ -n "${WHEEL:-}" ]; then
  cp "$WHEEL" "$CONTEXT/dist/"
else
  echo "== wheel" >&2
  # No build isolation: the frontend built by scripts/setup.sh is reused (skip-if-exists), and
  # the venv's hatchling and JupyterLab build the wheel offline (as tests/test_packaging.py does).
  "$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w "$CONTEXT/dist" "$ROOT" >&2
fi

BUILD_ARGS=(
  --build-arg "VERSION=$VERSION"
  --build-arg "REVISION=$REVISION"
  --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
)

if [ "$DEBIAN_BASE" = 1 ]; then
  ENGINE=(podman --storage-driver=vfs --root "$CACHE/containers/storage"
          --runroot "$CACHE/containers/run")
  BASE_IMAGE="localhost/trevor-debian-base:$SUITE"
  if ! "${ENGINE[@]}" image exists "$BASE_IMAGE"; then
    tarball="$CACHE/debian-$SUITE-base.tar"
    if [ ! -s "$tarball" ]; then
      echo "== base image: mmdebstrap $SUITE ($BASE_PACKAGES)" >&2
      mmdebstrap --quiet --variant=minbase --include="$BASE_PACKAGES" --format=tar \
        "$SUITE" "$tarball.part" >&2
      mv "$tarball.part" "$tarball"
    fi
    "${ENGINE[@]}" import --quiet "$tarball" "$BASE_IMAGE" >&2
  fi
  echo "== dependency wheels (cached in $CACHE/wheels)" >&2
  # Wheels are chosen for the base's Python (its patch level too: Requires-Python may name it).
  base_python="$(tar -xOf "$CACHE/debian-$SUITE-base.tar" ./var/lib/dpkg/status \
    | awk '/^Package: python3\.[0-9]+$/ {p=1; next} p && !done && /^Version:/ {print $2; done=1}' \
    | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+')"
  host_python="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ "${base_python%.*}" != "$host_python" ]; then
    echo "error: the base has Python $base_python, $PYTHON is $host_python" >&2
    exit 1
  fi
  mkdir -p "$CACHE/wheels"
  # Resolve again only when the wheel's requirements changed.
  requires="$(unzip -p "$CONTEXT"/dist/jupyter_trevor-*.whl '*.dist-info/METADATA' \
    | grep '^Requires-Dist' | sha256sum | cut -c1-16)"
  if [ ! -e "$CACHE/wheels/.resolved-$base_python-$requires" ]; then
    "$PYTHON" -m pip download --quiet --only-binary=:all: --python-version "$base_python" \
      -d "$CACHE/wheels" \
      "$CONTEXT"/dist/jupyter_trevor-*.whl >&2
    rm -f "$CACHE"/wheels/jupyter_trevor-*.whl
    touch "$CACHE/wheels/.resolved-$base_python-$requires"
  fi
  # Hard links when the cache shares a file system with the context (it does: both in $CACHE).
  for f in "$CACHE"/wheels/*.whl; do
    case "$(basename "$f")" in jupyter_trevor-*) continue ;; esac
    ln "$f" "$CONTEXT/dist/" 2>/dev/null || cp "$f" "$CONTEXT/dist/"
  done
  # --layers=false: the vfs driver stores every layer as a full copy of the root file system,
  # so committing once per stage instead of once per instruction saves gigabytes and minutes.
  BUILD_ARGS+=(--isolation=chroot --layers=false --build-arg "PIP_INSTALL_ARGS=--no-index")
else
  ENGINE=("${ENGINE:-podman}")
  BASE_IMAGE="${BASE_IMAGE:-python:3.12-slim}"
fi
# Docker's format keeps HEALTHCHECK (the OCI image format has no field for it); docker itself
# always writes it.
[ "${ENGINE[0]}" = podman ] && BUILD_ARGS+=(--format=docker)

echo "== image $TAG from $BASE_IMAGE" >&2
"${ENGINE[@]}" build --quiet -f "$ROOT/deploy/Containerfile" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" "${BUILD_ARGS[@]}" -t "$TAG" "$CONTEXT" >&2
if [ "$DEBIAN_BASE" = 1 ]; then
  # The image this tag named before is now dangling: a full copy each under vfs.
  "${ENGINE[@]}" image prune --force >/dev/null
fi
"${ENGINE[@]}" image inspect --format '{{.Id}}' "$TAG"
