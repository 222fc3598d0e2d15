"""The scripted HTTP journey against real `trevor-backend` processes: the demo with its
embedded defaults, and a server whose object store is S3 (a real SeaweedFS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.backend.test_journey import researcher_journey
from tests.fixtures.backend import USERS, Client
from tests.fixtures.processes import free_port


def _start(
    args: list[str], env: dict[str, str], data_dir: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(data_dir / "backend.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "trevor_backend.app", *args, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise AssertionError((data_dir / "backend.log").read_text())


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREVOR_")}
    return env | {"TREVOR_DATA_DIR": str(data_dir)}


async def test_journey_against_trevor_backend_demo(tmp_path: Path) -> None:
    proc, url = _start(["demo"], _clean_env(tmp_path), tmp_path)
    try:
        tokens = json.loads((tmp_path / "demo-tokens.json").read_text())
        clients: dict[str | None, Client] = {None: Client(url, None)}
        clients.update({u: Client(url, tokens[u]) for u in USERS})
        await researcher_journey(clients)
        # Embedded defaults: the SQLite file and the local store live in the data dir.
        assert (tmp_path / "trevor.sqlite").exists()
        assert any((tmp_path / "objects" / "quarantine").rglob("*"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_journey_with_s3_object_store(tmp_path: Path, s3_server) -> None:  # type: ignore[no-untyped-def]
    bucket = s3_server.create_bucket()
    env = _clean_env(tmp_path) | s3_server.env() | {"TREVOR_STORAGE_URL": f"s3://{bucket}"}
    proc, url = _start(["demo"], env, tmp_path)
    try:
        tokens = json.loads((tmp_path / "demo-tokens.json").read_text())
        clients: dict[str | None, Client] = {None: Client(url, None)}
        clients.update({u: Client(url, tokens[u]) for u in USERS})
        # 20 MiB crosses the store's 8 MiB part size: a real multipart upload.
        rid = await researcher_journey(clients, size=20 * 1024 * 1024)
        s3 = s3_server.client()
        try:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        finally:
            s3.close()
        assert any(k.startswith(f"quarantine/p1/{rid}/") for k in keys)
        assert not (tmp_path / "objects").exists()
        ready = await clients[None].get("/ready")
        assert ready.json["checks"]["store"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
