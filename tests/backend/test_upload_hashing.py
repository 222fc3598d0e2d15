"""The upload's sha256 is computed in worker threads, a batch of chunks at a time, while the
event loop reads on: the digest over many batches is the file's, and a body that does not match
the announced sha256 is refused and leaves no object."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pytest

from tests.fixtures.backend import LiveBackend
from trevor_backend.services import streams


async def test_a_body_of_many_batches_is_hashed_in_order_off_the_loop(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    hashed_on: list[int] = []
    hash_chunks = streams._hash_chunks

    def recording(hasher: Any, chunks: list[bytes]) -> None:
        hashed_on.append(threading.get_ident())
        hash_chunks(hasher, chunks)

    monkeypatch.setattr(streams, "_hash_chunks", recording)
    body = os.urandom(2 * streams.HASH_BATCH + 12345)  # two full batches and a remainder
    alice = live.client("alice")
    rid = (await alice.create_request(title="hashing"))["id"]
    up = await alice.upload(rid, body, "big.bin")  # announces the body's sha256
    assert up.status == 201, up.body
    assert up.json["sha256"] == hashlib.sha256(body).hexdigest()
    assert up.json["size"] == len(body)
    assert len(hashed_on) >= 2 and loop_thread not in hashed_on


async def test_a_body_that_is_not_the_announced_file_leaves_no_object(live: LiveBackend) -> None:
    body = os.urandom(streams.HASH_BATCH + 1)
    alice = live.client("alice")
    rid = (await alice.create_request(title="mismatch"))["id"]
    other = hashlib.sha256(body[:-1]).hexdigest()
    up = await alice.post(
        f"/api/v1/requests/{rid}/objects?filename=big.bin",
        body=body,
        headers={"X-Trevor-Sha256": other},
    )
    assert up.status == 422 and up.json["type"].endswith("checksum-mismatch"), up.body
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["objects"] == []
