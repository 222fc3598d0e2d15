"""A request body on its way into the object store: hashed as it streams, bounded in size."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import PayloadTooLarge
from ..storage import ObjectWriter


@dataclass(kw_only=True)
class HashedStream:
    writer: ObjectWriter
    limit: int
    hasher: Any = field(default_factory=hashlib.sha256)
    size: int = 0

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the upload exceeds the limit of {self.limit} bytes")

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            await self.writer.abort()
            raise self.too_large()
        self.hasher.update(chunk)
        await self.writer.write(chunk)

    async def abort(self) -> None:
        await self.writer.abort()
