"""The TypeScript side's own checks, run from pytest so CI runs them: the jest suite (panel logic:
actions per state, verdict badges, SSE parser and event reducer, tagging rules, handshake) and
the type check against the contract generated from docs/openapi.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, node_env

JLPM = str(Path(sys.prefix) / "bin" / "jlpm")


def jlpm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JLPM, *args],
        cwd=ROOT / "labextension",
        env=node_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.mark.usefixtures("labextension")
def test_jest_suite_passes() -> None:
    out = jlpm("test", "--ci")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert " passed" in out.stderr + out.stdout


@pytest.mark.usefixtures("labextension")
def test_typescript_typechecks_against_the_openapi_contract() -> None:
    out = jlpm("typecheck")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
