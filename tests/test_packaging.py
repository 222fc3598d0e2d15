"""What an operator installs and runs: the built wheel in a clean virtual environment, and the
README's one-command demo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _plain(text: str) -> str:
    """Drop the ANSI colours Jupyter's list commands print."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _clean_jupyter_env(tmp: Path) -> dict[str, str]:
    """An environment in which only the clean venv's own Jupyter config and data count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "TREVOR_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env["JUPYTER_CONFIG_DIR"] = str(tmp / "user-config")
    env["JUPYTER_DATA_DIR"] = str(tmp / "user-data")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def test_built_wheel_installs_with_both_extensions_enabled(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # No build isolation: the checkout's venv already has hatchling, hatch-jupyter-builder and
    # JupyterLab, and the labextension built by scripts/setup.sh is reused (skip-if-exists).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    (wheel,) = dist.glob("jupyter_trevor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = "jupyter_trevor-" + wheel.name.split("-")[1] + ".data/data/"
    assert data + "etc/jupyter/jupyter_server_config.d/jupyter_trevor.json" in names
    assert data + "share/jupyter/labextensions/jupyter-trevor/package.json" in names
    assert data + "share/jupyter/labextensions/jupyter-trevor/install.json" in names
    assert "trevor_backend/alembic/versions/0001_initial_schema.py" in names
    # The API reference page's Swagger UI, vendored at build time (no CDN).
    assert "trevor_backend/static/apidocs/vendor/swagger-ui-bundle.js" in names
    assert "trevor_backend/static/apidocs/init.js" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = _clean_jupyter_env(tmp_path)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", str(wheel), "jupyterlab>=4.1,<5"],
        check=True,
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    server = subprocess.run(
        [str(env_dir / "bin" / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    out = _plain(server.stdout + server.stderr)
    assert "jupyter_trevor enabled" in out, out
    assert re.search(r"jupyter_trevor \S+ OK", out), out

    lab = subprocess.run(
        [str(env_dir / "bin" / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    out = _plain(lab.stdout + lab.stderr)
    line = next((ln for ln in out.splitlines() if "jupyter-trevor" in ln), "")
    assert "enabled" in line and "OK" in line, out

    backend = subprocess.run(
        [str(env_dir / "bin" / "trevor-backend"), "--help-all"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    assert "TrevorBackend.required_reviews" in backend.stdout


def test_demo_command_starts_both_servers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREVOR_")}
    env |= {
        "TREVOR_DEMO_DIR": str(tmp_path / "demo"),
        "TREVOR_DEMO_BACKEND_PORT": str(free_port()),
        "TREVOR_DEMO_LAB_PORT": str(free_port()),
    }
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "JupyterLab (as researcher alice): http://127.0.0.1:" in text
    assert "--check: both servers answer" in text
    assert "alice  trv_" in text and "carol  trv_" in text
    # The sample notebook is in the researcher's workspace.
    assert (tmp_path / "demo" / "workspace" / "demo.ipynb").exists()
