"""A request body on its way into the object store: hashed as it streams, bounded in size.

The sha256 is computed in a worker thread, a batch of chunks at a time, while the event loop
reads the next chunks from the socket: hashing is the largest cost of an upload, and hashlib
releases the GIL while it hashes, so the two overlap instead of taking turns on the loop. One
thread hop per ``HASH_BATCH`` bytes (not per chunk), batches hashed in order, and the chunks are
hashed as they came (no joined copy).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import PayloadTooLarge
from ..storage import ObjectWriter

#: Bytes of chunks handed to the hashing thread at once.
HASH_BATCH = 4 << 20


def _hash_chunks(hasher: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)


@dataclass(kw_only=True)
class HashedStream:
    writer: ObjectWriter
    limit: int
    hasher: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    _unhashed: list[bytes] = field(default_factory=list, repr=False)
    _unhashed_size: int = field(default=0, repr=False)
    _hashing: asyncio.Future[None] | None = field(default=None, repr=False)

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the upload exceeds the limit of {self.limit} bytes")

    async def _count(self, size: int) -> None:
        self.size += size
        if self.size > self.limit:
            await self.writer.abort()
            raise self.too_large()

    async def write(self, chunk: bytes) -> None:
        await self._count(len(chunk))
        self._unhashed.append(chunk)
        self._unhashed_size += len(chunk)
        if self._unhashed_size >= HASH_BATCH:
            await self._hash_batch()
        await self.writer.write(chunk)

    async def write_view(self, view: memoryview) -> None:
        """Write a view of a buffer the caller fills again once the write after this one has
        returned: hashing it starts now and is waited for by that next write, as the writer's
        use of it is (``ObjectWriter.write_view``). Two buffers taken in turn are enough."""
        await self._count(len(view))
        self._unhashed.append(view)  # type: ignore[arg-type]
        await self._hash_batch()
        await self.writer.write_view(view)

    async def _hash_batch(self) -> None:
        # The previous batch first: batches are hashed in order, and at most two (the one
        # hashing, the one filling) are held.
        if self._hashing is not None:
            await self._hashing
        chunks, self._unhashed, self._unhashed_size = self._unhashed, [], 0
        self._hashing = asyncio.ensure_future(asyncio.to_thread(_hash_chunks, self.hasher, chunks))

    async def hexdigest(self) -> str:
        """The sha256 of every byte written (call once the body is complete)."""
        await self._hash_batch()
        assert self._hashing is not None
        await self._hashing
        return str(self.hasher.hexdigest())

    async def abort(self) -> None:
        await self.writer.abort()
