"""A real JupyterHub for tests: ``jupyterhub`` from PyPI with ``configurable-http-proxy`` from npm,
``DummyAuthenticator`` (any password) and ``SimpleLocalProcessSpawner`` (single-user servers as
local processes, each user's home a folder under the test's temp dir).

Each user's server is a real ``jupyterhub-singleuser`` JupyterLab with the trevor extension,
given the backend's URL and nothing else: no trevor token anywhere, so the extension forwards
the server's own ``JUPYTERHUB_API_TOKEN``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.identity.provider import NODE_DIR, free_port

CHP = NODE_DIR / "node_modules" / ".bin" / "configurable-http-proxy"

CONFIG = """
import sys
c = get_config()  # noqa: F821
settings = {settings!r}
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = settings["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{{settings['proxy_api_port']}}"
c.ConfigurableHTTPProxy.command = [settings["chp"]]
c.JupyterHub.db_url = "sqlite:///" + settings["dir"] + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = settings["dir"] + "/cookie_secret"
c.JupyterHub.pid_file = settings["dir"] + "/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.load_groups = settings["groups"]
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = settings["homes"] + "/{{username}}"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.Spawner.args = [
    "--ServerApp.allow_root=True",
    "--ServerApp.jpserver_extensions={{'jupyter_trevor': True, 'jupyterlab': True}}",
    "--LabApp.news_url=",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]
c.Spawner.environment = settings["environment"]
c.JupyterHub.cleanup_servers = True
"""


@dataclass
class Hub:
    workdir: Path
    backend_url: str
    groups: dict[str, list[str]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    proxy_api_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    @property
    def log(self) -> Path:
        return self.workdir / "hub.log"

    def home(self, user: str) -> Path:
        return self.workdir / "homes" / user

    def start(self) -> None:
        assert CHP.exists(), "configurable-http-proxy is not installed: run `bash scripts/setup.sh`"
        (self.workdir / "homes").mkdir(parents=True, exist_ok=True)
        user_config = self.workdir / "user-jupyter-config"
        # No "get notified about Jupyter news?" toast over the panel.
        notification = user_config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        settings = {
            "port": self.port,
            "hub_port": self.hub_port,
            "proxy_api_port": self.proxy_api_port,
            "chp": str(CHP),
            "dir": str(self.workdir),
            "homes": str(self.workdir / "homes"),
            "groups": self.groups,
            # What each user's server gets beyond the hub's own variables: the backend's URL
            # and a project; deliberately no TREVOR_TOKEN.
            "environment": {
                "TREVOR_BACKEND_URL": self.backend_url,
                "TREVOR_PROJECT": "p1",
                "JUPYTER_CONFIG_DIR": str(user_config),
                "JUPYTER_DATA_DIR": str(self.workdir / "user-jupyter-data"),
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            },
        }
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(CONFIG.format(settings=json.loads(json.dumps(settings))))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TREVOR_", "JUPYTERHUB_"))}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("jupyterhub exited:\n" + self.log.read_text()[-4000:])
            try:
                if httpx.get(f"{self.url}/hub/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("jupyterhub did not start:\n" + self.log.read_text()[-4000:])

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # the hub stops the users' servers and its proxy (cleanup)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def user_token(self, user: str, note: str = "trevor test") -> str:
        """A hub API token of ``user``, made as the user makes one on the hub's token page:
        log in with the hub's form (DummyAuthenticator), then POST to the tokens API."""
        with httpx.Client(base_url=self.url, timeout=60) as http:

            def hub_xsrf() -> str:
                # The hub's XSRF cookie (a user's server sets its own under /user/NAME/).
                jar = http.cookies.jar
                return [c.value for c in jar if c.name == "_xsrf" and c.path == "/hub/"][-1]

            assert http.get("/hub/login").status_code == 200
            r = http.post(
                "/hub/login", data={"username": user, "password": "x", "_xsrf": hub_xsrf()}
            )
            assert r.status_code == 302, r.text[-500:]
            made = http.post(
                f"/hub/api/users/{user}/tokens",
                json={"note": note, "expires_in": 3600},
                headers={"X-XSRFToken": hub_xsrf()},
            )
            assert made.status_code == 201, made.text
            return str(made.json()["token"])
