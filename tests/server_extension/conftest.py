"""Fixtures for the Jupyter server extension: a Jupyter server (pytest-jupyter) with
``jupyter_trevor`` enabled, its workspace, and a small HTTP test server of ours that serves bytes
(used where a download source is needed; it is not a stand-in for the trevor backend, which the
end-to-end tests start for real)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tornado.web
from pytest_jupyter.jupyter_server import *  # noqa: F403
from pytest_jupyter.jupyter_server import pytest_pycollect_makeitem, pytest_pyfunc_call
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

# pytest-jupyter's own hooks run coroutine tests on a loop of their own; this suite runs under
# pytest-asyncio (asyncio_mode=auto), so the hooks are dropped and the server is built on
# pytest-asyncio's loop (jp_asyncio_loop below), the loop the live backend fixtures use too.
del pytest_pycollect_makeitem, pytest_pyfunc_call


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Lets fixtures see whether the test failed (the browser test keeps a screenshot then).
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture
async def jp_asyncio_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    yield asyncio.get_running_loop()


@pytest.fixture
def trevor_config() -> dict[str, Any]:
    """``TrevorExtensionApp`` traits for the server under test; tests override it."""
    return {}


@pytest.fixture
def jp_server_config(trevor_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_trevor": True}},
        # The timer would race the tests' explicit deliveries.
        "TrevorExtensionApp": {"inbox_poll_interval": 0, **trevor_config},
    }


@pytest.fixture
def workspace(jp_root_dir: Path) -> Path:
    return Path(jp_root_dir)


@pytest.fixture
def trevor_app(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["trevor"]


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on (bound, then closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@dataclass
class ByteServer:
    """Our HTTP test server: ``GET /files/<name>`` answers the bytes registered under name."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    def serve(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.url}/files/{name}"


class _FileHandler(tornado.web.RequestHandler):
    def initialize(self, server: ByteServer) -> None:
        self.server = server

    def get(self, name: str) -> None:
        self.server.seen_headers.append(dict(self.request.headers))
        if name not in self.server.files:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(self.server.files[name])


@pytest.fixture
async def byte_server() -> AsyncIterator[ByteServer]:
    sock, port = bind_unused_port()
    state = ByteServer(f"http://127.0.0.1:{port}")
    app = tornado.web.Application([(r"/files/([^/]+)", _FileHandler, {"server": state})])
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield state
    finally:
        server.stop()
        await server.close_all_connections()


@pytest.fixture
def outside_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory outside the workspace: nothing may ever be written here."""
    yield tmp_path_factory.mktemp("outside")


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """SQLite only: the extension does not touch the database, and the backend suites already run
    every database kind; running the live-backend tests twice would only double their time."""
    yield f"sqlite:///{tmp_path / 'trevor.sqlite'}"


def node_env() -> dict[str, str]:
    """Environment for jlpm: caches inside the checkout (scripts/env.sh), venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("YARN_CACHE_FOLDER", str(ROOT / ".cache" / "yarn"))
    env.setdefault("npm_config_cache", str(ROOT / ".cache" / "npm"))
    return env


@pytest.fixture(scope="session")
def labextension() -> Path:
    """The built frontend, linked into the environment; built here when missing, by the same
    script setup uses (scripts/build-labextension.sh)."""
    built = ROOT / "jupyter_trevor" / "labextension" / "static" / "style.js"
    linked = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyter-trevor"
    installed = ROOT / "labextension" / "node_modules"
    if not (built.exists() and linked.exists() and installed.exists()):
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-labextension.sh")],
            check=True,
            cwd=ROOT,
            env=node_env(),
        )
    return ROOT / "jupyter_trevor" / "labextension"
