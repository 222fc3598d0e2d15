"""Live tagged outputs for the panel: ``GET /trevor/outputs/watch?since=<fingerprint>`` answers
as soon as the workspace manifest (``.trevor/outputs``) differs from what the panel last saw,
or after ``timeout`` seconds with the same list (a long poll).

Why a long poll on a fingerprint rather than inotify or the contents API: the kernel writes the
manifest directly (not through Jupyter's contents manager, so no file-change signal reaches the
browser), and a hidden folder on any file system (NFS home directories in a TRE) can be polled
cheaply by the server: a ``stat`` of each output's ``metadata.json``, which every tag rewrites
atomically.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import tornado.web

from . import workspace as ws
from .handlers import TrevorHandler

#: How often a waiting request re-reads the folder, and the longest it waits.
POLL_SECONDS = 0.5
MAX_WAIT_SECONDS = 60.0


def fingerprint(workspace: Path) -> str:
    """Changes whenever an output is tagged, re-tagged (new version) or removed."""
    digest = hashlib.sha256()
    root = ws.outputs_root(workspace)
    try:
        entries = sorted(p.name for p in root.iterdir() if p.is_dir())
    except OSError:
        entries = []
    for name in entries:
        try:
            st = (root / name / ws.METADATA).stat()
        except OSError:
            continue
        digest.update(f"{name}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    return digest.hexdigest()[:32]


class OutputsWatchHandler(TrevorHandler):
    _client_gone = False

    def on_connection_close(self) -> None:
        self._client_gone = True

    @tornado.web.authenticated
    async def get(self) -> None:
        from .workspace_outputs import list_workspace_outputs

        workspace = self.trevor.workspace
        since = self.get_argument("since", "")
        try:
            wait = min(max(float(self.get_argument("timeout", "25")), 0.0), MAX_WAIT_SECONDS)
        except ValueError:
            wait = 25.0
        deadline = time.monotonic() + wait
        current = fingerprint(workspace)
        while current == since and time.monotonic() < deadline and not self._client_gone:
            await asyncio.sleep(POLL_SECONDS)
            current = fingerprint(workspace)
        if self._client_gone:
            return
        items = list_workspace_outputs(workspace)
        self.finish(json.dumps({"fingerprint": current, "items": items}, default=str))
