"""The ``jupyter_trevor`` Jupyter server extension (SPEC §7).

It is the only thing that talks to the trevor backend on the researcher's behalf: it holds the
token, proxies ``<base_url>/trevor/api/*`` to ``<backend_url>/api/v1/*``, reads and writes the
workspace manifest (``.trevor/outputs``), uploads tagged outputs into requests and delivers
approved ingress files into the workspace inbox.

Configure with ``c.TrevorExtensionApp.<trait>`` in ``jupyter_server_config.py`` or with the
``TREVOR_*`` environment variables (``docs/jupyter.md`` lists them).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import PeriodicCallback
from tornado.web import RequestHandler
from traitlets import Float, Unicode, default, validate

from . import handlers
from ._version import __version__
from .client import BackendClient, hub_identity_token
from .inbox import DEFAULT_INBOX_DIR, DeliveryResult, check_inbox_dir, deliver_all
from .outputs_watch import OutputsWatchHandler
from .release_download import ReleaseDownloadHandler


class TrevorExtensionApp(ExtensionApp):
    name = "jupyter_trevor"
    description = "trevor airlock: JupyterLab side"
    # The frontend is a prebuilt (federated) labextension; nothing to serve as static files here.
    load_other_extensions = True

    backend_url = Unicode(
        help="Base URL of the trevor backend, e.g. https://airlock.tre.example (env "
        "TREVOR_BACKEND_URL). Empty: the panel explains that no backend is configured.",
    ).tag(config=True)

    token = Unicode(
        help="API token (or OIDC access token) sent to the backend as a Bearer token (env "
        "TREVOR_TOKEN). Never sent to the browser. Default under JupyterHub: the server's "
        "JUPYTERHUB_API_TOKEN, for a backend with JupyterHubAuthenticator.",
    ).tag(config=True)

    project = Unicode(
        help="Default project id for new requests (env TREVOR_PROJECT).",
    ).tag(config=True)

    inbox_dir = Unicode(
        help="Folder, relative to the workspace root, that receives approved ingress files as "
        "<inbox_dir>/<request id>/<file> (env TREVOR_INBOX_DIR).",
    ).tag(config=True)

    workspace_root = Unicode(
        help="Workspace root holding .trevor/outputs and the inbox. Default: the server's "
        "root_dir (env TREVOR_WORKSPACE).",
    ).tag(config=True)

    inbox_poll_interval = Float(
        60.0,
        help="Seconds between automatic inbox deliveries (0 disables; the panel can always "
        "trigger one).",
    ).tag(config=True)

    request_timeout = Float(60.0, help="Timeout in seconds of one backend call.").tag(config=True)

    @default("backend_url")
    def _default_backend_url(self) -> str:
        return os.environ.get("TREVOR_BACKEND_URL", "")

    @default("token")
    def _default_token(self) -> str:
        # Under JupyterHub with no trevor token: forward the hub identity (client.py).
        return os.environ.get("TREVOR_TOKEN", "") or hub_identity_token()

    @default("project")
    def _default_project(self) -> str:
        return os.environ.get("TREVOR_PROJECT", "")

    @default("inbox_dir")
    def _default_inbox_dir(self) -> str:
        return os.environ.get("TREVOR_INBOX_DIR", DEFAULT_INBOX_DIR)

    @default("workspace_root")
    def _default_workspace_root(self) -> str:
        env = os.environ.get("TREVOR_WORKSPACE")
        if env:
            return env
        return str(self.serverapp.root_dir) if self.serverapp is not None else os.getcwd()

    @validate("inbox_dir")
    def _validate_inbox_dir(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        check_inbox_dir(value)  # fail at start-up, not at the first delivery
        return value

    # -- lifecycle ----------------------------------------------------------------------------

    def initialize_settings(self) -> None:
        self.client = BackendClient(
            self.backend_url, self.token, request_timeout=self.request_timeout
        )
        self._delivery_lock = asyncio.Lock()
        self._poller: PeriodicCallback | None = None
        self.settings.update({"trevor": self})
        # Kernels find the workspace by looking upwards from their working directory for a
        # `.trevor` folder (jupyter_trevor.kernel.config); making it here, at the server's
        # workspace root, means a notebook in a subfolder tags into the same manifest the
        # panel lists.
        try:
            (self.workspace / ".trevor").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.log.warning("jupyter_trevor: cannot create %s/.trevor: %s", self.workspace, exc)
        self.log.info(
            "jupyter_trevor %s: backend %s, workspace %s",
            __version__,
            self.backend_url or "(not configured)",
            self.workspace,
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # Deliveries also run on a timer so files arrive without the panel open.
        if self.backend_url and self.inbox_poll_interval > 0:
            self._poller = PeriodicCallback(
                self._poll_inbox, self.inbox_poll_interval * 1000, jitter=0.1
            )
            self._poller.start()

    async def _poll_inbox(self) -> None:
        try:
            await self.deliver_inbox()
        except Exception as exc:  # a backend outage must not kill the timer
            self.log.warning("trevor inbox delivery failed: %s", exc)

    async def stop_extension(self) -> None:
        if self._poller is not None:
            self._poller.stop()
        self.client.close()

    # -- services used by the handlers -------------------------------------------------------

    @property
    def workspace(self) -> Path:
        return Path(self.workspace_root).expanduser()

    async def deliver_inbox(self) -> list[DeliveryResult]:
        """Fetch the pending deliveries and write them into the inbox (one run at a time)."""
        async with self._delivery_lock:
            listing = await self.client.json("GET", "deliveries")
            items = listing.get("items", []) if isinstance(listing, dict) else listing

            async def download(url: str, out: Any, max_bytes: int | None) -> str:
                return await self.client.download_to(url, out, max_bytes=max_bytes)

            async def acknowledge(item: Any) -> None:
                await self.client.request(
                    "POST", f"deliveries/{item.object_id}/ack", json_body={"sha256": item.sha256}
                )

            results = await deliver_all(
                items,
                workspace=self.workspace,
                inbox_dir=self.inbox_dir,
                download=download,
                acknowledge=acknowledge,
            )
        for r in results:
            if r.status in ("rejected", "failed"):
                self.log.warning("trevor delivery %s %s: %s", r.object_id, r.status, r.detail)
        return results


_ID = r"[^/]+"


def routes() -> list[tuple[str, type[RequestHandler]]]:
    """The ``/trevor/*`` route table; ExtensionApp prefixes ``base_url``."""
    return [
        ("/trevor/version", handlers.VersionHandler),
        ("/trevor/api/(.*)", handlers.ProxyHandler),
        ("/trevor/outputs", handlers.OutputsHandler),
        ("/trevor/outputs/watch", OutputsWatchHandler),
        (f"/trevor/releases/({_ID})/download", ReleaseDownloadHandler),
        (f"/trevor/requests/({_ID})/outputs/({_ID})", handlers.UploadOutputHandler),
        ("/trevor/events", handlers.EventsHandler),
        ("/trevor/inbox", handlers.InboxHandler),
        ("/trevor/(.*)", handlers.NotFoundHandler),
    ]


main = launch_new_instance = TrevorExtensionApp.launch_instance
