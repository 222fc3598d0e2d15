"""Reads that prove the bytes are the ones recorded: size and sha256 checked while streaming.

Stores can be changed behind the database's back (a disk error, an operator, an attacker with
bucket access). A reader must never pass such bytes on as the reviewed object, so
:func:`iter_verified` holds back data until it can vouch for it:

* the first ``hold`` bytes are buffered, and the last chunk is always held, until the whole
  object has been hashed — an object up to ``hold`` bytes is verified before anything is sent,
  so the caller can still answer with a clean problem;
* a larger object is streamed, but never a byte past the recorded size, and never its last
  chunk unless size and sha256 both match: a client reading it sees the body end early
  (short of the Content-Length it was promised) instead of receiving altered bytes whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .base import ObjectNotFound, ObjectStore, StorageError

#: Bytes verified before the first is sent (clean errors up to this size).
HOLD_BYTES = 16 << 20
CHUNK = 1 << 20


class IntegrityFailure(StorageError):
    """The bytes at ``key`` are missing, or differ from the recorded size or sha256."""

    def __init__(self, key: str, reason: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key
        self.reason = reason  # "missing" | "changed"
        self.detail = detail


@dataclass(frozen=True)
class Download:
    """Stored bytes on their way to a client: what the response headers say about them, and
    their chunks, verified against the recorded size and sha256 while they stream."""

    key: str
    filename: str
    media_type: str
    size: int
    sha256: str
    chunks: AsyncIterator[bytes]


def verified_download(
    store: ObjectStore, key: str, *, filename: str, media_type: str, size: int, sha256: str
) -> Download:
    # iter_verified is a generator: nothing is read from the store until the first chunk is.
    chunks = iter_verified(store, key, size, sha256)
    return Download(key, filename, media_type, size, sha256, chunks)


async def iter_verified(
    store: ObjectStore,
    key: str,
    size: int,
    sha256: str,
    *,
    hold: int | None = None,
    chunk_size: int | None = None,
) -> AsyncIterator[bytes]:
    """The bytes at ``key``, released only as far as they can be vouched for (module doc).

    Raises :class:`IntegrityFailure` at the point the difference is found; what was yielded
    before that is a prefix of the recorded object unless the change lies later."""
    hold = HOLD_BYTES if hold is None else hold
    digest, seen = hashlib.sha256(), 0
    held: list[bytes] = []
    held_size = 0
    releasing = False
    try:
        async for chunk in store.iter_bytes(key, chunk_size or CHUNK):
            seen += len(chunk)
            if seen > size:
                raise IntegrityFailure(key, "changed", f"more than the recorded {size} bytes")
            digest.update(chunk)
            held.append(chunk)
            held_size += len(chunk)
            if not releasing and held_size <= hold:
                continue
            releasing = True
            # Keep the newest chunk back: it is sent only once the whole object checks out.
            while len(held) > 1:
                out = held.pop(0)
                held_size -= len(out)
                yield out
    except ObjectNotFound:
        raise IntegrityFailure(key, "missing", "the stored bytes are missing") from None
    if seen != size:
        raise IntegrityFailure(key, "changed", f"{seen} bytes stored, {size} recorded")
    if digest.hexdigest() != sha256:
        raise IntegrityFailure(key, "changed", "the stored bytes do not match the recorded sha256")
    for out in held:
        yield out


async def read_verified(store: ObjectStore, key: str, size: int, sha256: str) -> bytes:
    """The whole object, verified (for previews and other readers that need it in memory)."""
    parts = [c async for c in iter_verified(store, key, size, sha256, hold=max(size, 0))]
    return b"".join(parts)
