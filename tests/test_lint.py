"""The code base is ruff clean (the project's lint configuration is in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_check_passes() -> None:
    out = _ruff("check")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_passes() -> None:
    out = _ruff("format", "--check")
    assert out.returncode == 0, out.stdout + out.stderr


# The labextension's linters, as the JupyterLab extension template configures them
# (labextension/eslint.config.mjs; "prettier" and "stylelint" in labextension/package.json).
# scripts/setup.sh installs them with the other npm dependencies.
LABEXTENSION = ROOT / "labextension"


def _jlpm(*args: str) -> subprocess.CompletedProcess[str]:
    jlpm = Path(sys.executable).parent / "jlpm"
    return subprocess.run(
        [str(jlpm), *args],
        cwd=LABEXTENSION,
        capture_output=True,
        text=True,
        check=False,
    )


def test_eslint_passes() -> None:
    # Type-aware rules read the generated contract types the sources import.
    generated = _jlpm("gen:contract")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    out = _jlpm("eslint:check")
    assert out.returncode == 0, out.stdout + out.stderr


def test_eslint_reads_the_jest_tests() -> None:
    """The tests are linted like the code (the extension template leaves them out): every
    file under src/__tests__ is read, with the type-aware rules (tsconfig.test.json)."""
    import json

    tests = LABEXTENSION / "src" / "__tests__"
    # ESLint itself, not the package's "eslint" script (which also lints "." and fixes).
    out = subprocess.run(
        [str(LABEXTENSION / "node_modules" / ".bin" / "eslint"), "--format", "json", str(tests)],
        cwd=LABEXTENSION,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr
    read = {Path(f["filePath"]).name for f in json.loads(out.stdout)}
    wanted = {f.name for f in tests.iterdir() if f.suffix in (".ts", ".tsx")}
    assert wanted and read == wanted


def test_prettier_passes() -> None:
    out = _jlpm("prettier:check")
    assert out.returncode == 0, out.stdout + out.stderr


def test_stylelint_passes() -> None:
    out = _jlpm("stylelint:check")
    assert out.returncode == 0, out.stdout + out.stderr
