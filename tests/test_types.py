"""Both packages type-check with mypy --strict (configuration in pyproject.toml [tool.mypy]:
strict, overrides only for third-party packages without type information)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_configuration_stays_strict() -> None:
    # Overrides are for third-party packages without types; none may relax our own code.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    assert set(config["files"]) == {"backend/trevor_backend", "jupyter_trevor"}
    for override in config.get("overrides", []):
        modules = override["module"]
        for module in [modules] if isinstance(modules, str) else modules:
            assert not module.startswith(("trevor_backend", "jupyter_trevor")), module
        assert set(override) == {"module", "ignore_missing_imports"}, override
