"""What an operator installs and runs: the built wheel in a clean virtual environment, and the
README's one-command demo."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import psutil
import pytest

from tests.fixtures.processes import assert_none_left, free_port, started_with

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
        # --no-compile: byte-compiling every dependency is a third of the install's time, and
        # Python compiles what the checks below import anyway.
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            str(wheel),
            "jupyterlab>=4.1,<5",
        ],
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


def _consecutive_free_ports(n: int) -> int:
    """The first of n free consecutive loopback ports (the demo puts the checkers' JupyterLabs
    on the ports after the researcher's)."""
    for _ in range(50):
        first = free_port()
        if first + n > 65535:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in range(first, first + n):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError("no free consecutive ports")


def _demo_env(demo_dir: Path, checkers: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREVOR_")}
    env |= {
        "TREVOR_DEMO_DIR": str(demo_dir),
        "TREVOR_DEMO_BACKEND_PORT": str(free_port()),
        "TREVOR_DEMO_LAB_PORT": str(_consecutive_free_ports(3)),
        "TREVOR_DEMO_CHECKERS": checkers,
    }
    return env


def _started_by(demo_dir: Path) -> list[psutil.Process]:
    return started_with("TREVOR_DEMO_DIR", str(demo_dir))


def _assert_nothing_left(demo_dir: Path) -> None:
    assert_none_left("TREVOR_DEMO_DIR", str(demo_dir), "the demo")


def test_demo_check_starts_every_role_and_leaves_nothing(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    env = _demo_env(demo_dir, "carol dave")
    try:
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "demo.sh"), "--check"],
            capture_output=True,
            text=True,
            timeout=1200,
            env=env,
            check=False,
        )
    finally:
        _assert_nothing_left(demo_dir)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    lab = int(env["TREVOR_DEMO_LAB_PORT"])
    backend = env["TREVOR_DEMO_BACKEND_PORT"]
    assert f"JupyterLab (as researcher alice): http://127.0.0.1:{lab}/lab/tree/demo.ipynb" in text
    assert f"JupyterLab (as checker carol): http://127.0.0.1:{lab + 1}/lab" in text
    assert f"JupyterLab (as checker dave): http://127.0.0.1:{lab + 2}/lab" in text
    assert f"Admin dashboard: http://127.0.0.1:{backend}/dashboard/" in text
    assert f"http://127.0.0.1:{backend}/api/v1/docs" in text
    assert "--check: both servers answer" in text
    assert "alice  trv_" in text and "carol  trv_" in text and "root  trv_" in text
    # Progress is shown: timed steps, the skipped setup named as such.
    assert re.search(r"==> \[ *\d+s\] starting JupyterLab for output checker dave", text)
    assert "labextension up to date" in text or "labextension built" in text
    # The sample notebook is in the researcher's workspace; JupyterLab's news prompt is off.
    assert (demo_dir / "alice" / "workspace" / "demo.ipynb").exists()
    for user in ("alice", "carol", "dave"):
        settings = (
            demo_dir / user / "settings" / "@jupyterlab" / "apputils-extension"
        ) / "notification.jupyterlab-settings"
        assert json.loads(settings.read_text()) == {"fetchNews": "false"}
    # Every server ran in the demo directory and said so in its own log.
    assert "Jupyter Server" in (demo_dir / "jupyterlab-dave.log").read_text()


def test_demo_stopped_with_sigterm_leaves_nothing(tmp_path: Path) -> None:
    """SIGTERM to the script (what a service manager or `kill` sends) while the servers and a
    kernel run: the script stops them all and exits with 143."""
    demo_dir = tmp_path / "demo"
    env = _demo_env(demo_dir, "")  # no checkers' labs: the researcher's lab and a kernel do
    log = tmp_path / "demo.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "demo.sh")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    try:
        deadline = time.monotonic() + 900
        while "trevor demo is running" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        # A kernel too: Jupyter starts it in a session of its own, out of the server's group.
        lab = f"http://127.0.0.1:{env['TREVOR_DEMO_LAB_PORT']}"
        req = urllib.request.Request(
            f"{lab}/api/kernels?token=trevor-demo", data=b"{}", method="POST"
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            kernel = json.load(r)
        assert kernel["id"]
        kernels = [p for p in _started_by(demo_dir) if "ipykernel" in " ".join(p.cmdline())]
        for _ in range(240):
            if kernels:
                break
            time.sleep(0.5)
            kernels = [p for p in _started_by(demo_dir) if "ipykernel" in " ".join(p.cmdline())]
        assert kernels, "the kernel process did not appear"
        assert len(_started_by(demo_dir)) >= 4  # bash, backend, lab, kernel
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        _assert_nothing_left(demo_dir)
    assert "stopping the demo servers" in log.read_text()
