"""A backend killed in the middle of an upload leaves no object; the retry succeeds."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from sqlalchemy import func, select

from tests.fixtures.backend import Client
from tests.fixtures.processes import BackendProcess
from trevor_backend import db
from trevor_backend.orm import OutputObject


async def _object_rows(database_url: str) -> int:
    engine = db.make_engine(database_url)
    try:
        async with db.session_factory(engine)() as s:
            return int(await s.scalar(select(func.count()).select_from(OutputObject)) or 0)
    finally:
        await engine.dispose()


def _visible_objects(data_dir: Path) -> list[Path]:
    root = data_dir / "objects"
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.relative_to(root).parts]


async def test_kill_during_upload_leaves_nothing(tmp_path: Path, database_url: str) -> None:
    proc = BackendProcess(tmp_path, database_url, args=["--TrevorBackend.rate_limit=0"])
    proc.start()
    try:
        from trevor_backend.app import TrevorBackend
        from trevor_backend.demo import create_demo_world

        app = TrevorBackend(data_dir=str(tmp_path), database_url=database_url)
        backend = await app.make_backend(migrate=True)
        tokens = await create_demo_world(backend)
        await backend.close()
        alice = Client(proc.url, tokens["alice"])
        rid = (await alice.create_request())["id"]

        # Half of a 32 MiB body over a raw socket, then the server dies.
        total = 32 * 1024 * 1024
        _reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(
            (
                f"POST /api/v1/requests/{rid}/objects?filename=data.bin HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: Bearer {tokens['alice']}\r\n"
                f"Content-Length: {total}\r\n\r\n"
            ).encode()
        )
        chunk = os.urandom(1024 * 1024)
        for _ in range(16):
            writer.write(chunk)
            await writer.drain()
        await asyncio.sleep(0.5)  # let the server consume what was sent
        proc.kill()
        writer.close()

        # The server really was mid-write: its partial bytes sit in the store's temp area...
        partial = [p for p in (tmp_path / "objects" / ".tmp").rglob("*") if p.is_file()]
        assert partial and sum(p.stat().st_size for p in partial) > 0
        # ...but there is no object row and no object at any visible key.
        assert await _object_rows(database_url) == 0
        assert _visible_objects(tmp_path) == []

        proc.start()
        listed = await alice.get(f"/api/v1/requests/{rid}")
        assert listed.status == 200 and listed.json["objects"] == []

        data = os.urandom(total)
        retry = await alice.upload(rid, data, "data.bin")
        assert retry.status == 201, retry.body
        assert retry.json["sha256"] == hashlib.sha256(data).hexdigest()
        assert await _object_rows(database_url) == 1
        assert len(_visible_objects(tmp_path)) == 1
    finally:
        proc.stop()
