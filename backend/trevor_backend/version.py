"""The backend's version: that of the installed distribution it ships in (``jupyter-trevor``),
read from the package metadata so the backend does not import the Jupyter side."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "jupyter-trevor"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # pragma: no cover - a source tree on sys.path, never installed
    __version__ = "0+unknown"
