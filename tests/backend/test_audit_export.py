"""The audit CSV export's two writers (PostgreSQL's COPY, SQLite's Core query and csv module)
on SQLite and PostgreSQL: the same bytes for the same awkward events, spans stitched without
a gap, a client that goes away stops the export and leaves the pool usable, and a failure
after the first bytes breaks the download instead of ending it like a complete file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import insert, select, text

from tests.fixtures.backend import LiveBackend
from trevor_backend.orm import AuditEvent
from trevor_backend.principal import Principal
from trevor_backend.services import audit, audit_export
from trevor_backend.services.audit_export import HEADER_LINE, encode_rows, export_columns

AWKWARD_ACTOR = 'ev\re, "the" auditor'


async def add_awkward_events(live: LiveBackend) -> None:
    """Events whose cells need quoting, escaping or trimming: a CR, commas and quotes in the
    actor, a newline and non-ASCII text in the payload, nulls, and a whole-second time."""
    async with live.backend.ctx.sessions.begin() as session:
        who = Principal(user_id=None, name=AWKWARD_ACTOR, admin=True)
        await audit.record(
            session,
            "test.awkward",
            who,
            project_id="p1",
            payload={"note": 'a,b "q"\nnext line', "café": "naïve ü", "n": 1.5},
        )
        ev = await audit.record(session, "test.whole_second", who, payload={})
        # A whole second: isoformat() drops the microseconds, and so must the server.
        ev.created_at = ev.created_at.replace(microsecond=0)
        ev.hash = audit._hash_of(ev)
        ev.key_id = ev.mac = None


async def python_encoding(live: LiveBackend) -> str:
    """The export as the csv module writes it, whatever the database."""
    async with live.backend.ctx.sessions() as session:
        rows = (
            await session.execute(
                select(*export_columns("sqlite")).order_by(AuditEvent.seq)  # the Python path
            )
        ).all()
    return HEADER_LINE + encode_rows(rows)


async def test_both_writers_give_the_same_bytes_and_the_file_verifies(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_awkward_events(live)
    reply = await live.client("root").get("/api/v1/audit?format=csv")
    assert reply.status == 200, reply.body
    body = reply.body.decode()
    # On PostgreSQL the server wrote this file; it must equal the Python encoding byte for byte.
    assert body == await python_encoding(live)
    rows = list(csv.DictReader(io.StringIO(body)))
    awkward = next(r for r in rows if r["type"] == "test.awkward")
    assert awkward["actor"] == AWKWARD_ACTOR
    assert json.loads(awkward["payload"])["café"] == "naïve ü"
    whole = next(r for r in rows if r["type"] == "test.whole_second")
    assert "." not in whole["created_at"] and whole["created_at"].endswith("+00:00")
    assert whole["key_id"] == "" and whole["mac"] == ""
    check = audit_export.verify_csv(body, complete=True)
    assert check.ok and check.rows == len(rows) == check.links + 1, check

    # Small spans: many statements, stitched with no row lost or repeated.
    monkeypatch.setattr(audit_export, "PG_SPAN", 3)
    monkeypatch.setattr(audit_export, "SQLITE_SPAN", 3)
    assert (await live.client("root").get("/api/v1/audit?format=csv")).body.decode() == body
    filtered = await live.client("root").get("/api/v1/audit?format=csv&project=p1&type=test.*")
    assert [r["type"] for r in csv.DictReader(io.StringIO(filtered.body.decode()))] == [
        "test.awkward"
    ]


async def add_many_events(live: LiveBackend, n: int) -> None:
    """``n`` valid chained events, inserted in bulk (the API would take minutes)."""
    async with live.backend.ctx.sessions.begin() as session:
        head = (
            await session.execute(
                select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
            )
        ).one()
        seq, prev = head
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows: list[dict[str, Any]] = []
        for i in range(n):
            seq += 1
            fields: dict[str, Any] = {
                "seq": seq,
                "created_at": start + timedelta(milliseconds=i),
                "type": "object.viewed",
                "actor_id": None,
                "actor": "alice",
                "project_id": "p1",
                "request_id": None,
                "object_id": None,
                "payload": {"n": i, "padding": "x" * 200},
                "correlation_id": None,
                "prev_hash": prev,
            }
            prev = fields["hash"] = audit.event_hash(**fields)
            rows.append(fields)
        await session.execute(insert(AuditEvent), rows)


async def running_exports(live: LiveBackend) -> int:
    if live.backend.ctx.dialect != "postgresql":
        return 0
    async with live.backend.ctx.sessions() as session:
        return int(
            await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE query LIKE 'COPY (SELECT%' AND pid <> pg_backend_pid()"
                )
            )
            or 0
        )


async def raw_export_request(live: LiveBackend) -> tuple[asyncio.StreamReader, Any]:
    """A whole export asked for on a bare socket, so the test decides when to stop reading."""
    url = urlparse(live.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(
        (
            "GET /api/v1/audit?format=csv HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {live.tokens['root']}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    return reader, writer


async def test_a_client_that_goes_away_stops_the_export(live: LiveBackend) -> None:
    await add_many_events(live, 60_000)  # about 20 MB of CSV: more than the socket buffers
    reader, writer = await raw_export_request(live)
    got = b""
    while len(got) < 256 * 1024:
        chunk = await reader.read(65536)
        assert chunk, "the server ended the export early"
        got += chunk
    assert got.startswith(b"HTTP/1.1 200")
    writer.close()  # the client goes away mid-file
    await writer.wait_closed()
    # The server notices at its next write: the COPY is cancelled, not left running.
    for _ in range(600):
        if await running_exports(live) == 0:
            break
        await asyncio.sleep(0.05)
    assert await running_exports(live) == 0
    # The pool is still good: a whole export verifies.
    full = await live.client("root").get("/api/v1/audit?format=csv")
    check = audit_export.verify_csv(full.body.decode(), complete=True)
    assert check.ok and check.rows > 60_000


async def test_a_failure_after_the_first_bytes_breaks_the_download(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_export, "PG_SPAN", 2)
    monkeypatch.setattr(audit_export, "SQLITE_SPAN", 2)
    real = audit_export.AuditExport._copy, audit_export.AuditExport._encode
    calls = {"n": 0}

    async def failing(self: Any, stmt: Any, sink: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("database went away (test)")
        pg = self.ctx.dialect == "postgresql"
        return await real[0 if pg else 1](self, stmt, sink)

    monkeypatch.setattr(audit_export.AuditExport, "_copy", failing)
    monkeypatch.setattr(audit_export.AuditExport, "_encode", failing)
    reader, writer = await raw_export_request(live)
    raw = await reader.read()  # until the server closes the connection
    writer.close()
    assert raw.startswith(b"HTTP/1.1 200") and b"seq,created_at" in raw
    # Chunked encoding: a complete response ends with the zero-length chunk; this one must not.
    assert not raw.endswith(b"0\r\n\r\n")
