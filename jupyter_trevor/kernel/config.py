"""Where the kernel finds its workspace and the SDC parameters of its project.

Parameters: the defaults, overlaid by ``TREVOR_SDC_PARAMS`` (JSON, set by the deployment for
the project), overlaid by ``<workspace>/.trevor/params.json``, overlaid by
``trevor.configure(...)`` in the session. ``trevor.check(result, **params)`` overrides once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trevor_backend.sdc.params import Params

_session_overrides: dict[str, Any] = {}


def workspace_root() -> Path:
    """``TREVOR_WORKSPACE``, else the nearest folder above the kernel's working directory
    that already holds ``.trevor``, else the working directory itself."""
    env = os.environ.get("TREVOR_WORKSPACE")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / ".trevor").is_dir():
            return folder
    return cwd


def _read_params_file(root: Path) -> dict[str, Any]:
    path = root / ".trevor" / "params.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object of SDC parameters")
    return data


def current_params(**overrides: Any) -> Params:
    params = Params()
    env = os.environ.get("TREVOR_SDC_PARAMS")
    if env:
        params = Params.from_mapping(json.loads(env), base=params)
    params = Params.from_mapping(_read_params_file(workspace_root()), base=params)
    params = Params.from_mapping(_session_overrides, base=params)
    return Params.from_mapping(overrides, base=params)


def configure(**params: Any) -> Params:
    """Set SDC parameters for this session (validated); returns the parameters in force."""
    Params.from_mapping(params, base=current_params())
    _session_overrides.update(params)
    return current_params()


def reset() -> None:
    _session_overrides.clear()
