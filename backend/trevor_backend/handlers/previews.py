"""Object previews: a sanitised HTML fragment (see services/previews.py for what is allowed)."""

from __future__ import annotations

from ..schemas import PreviewOut, Problem
from .base import BaseHandler
from .spec import operation


class ObjectPreviewHandler(BaseHandler):
    @operation(
        "A sanitised HTML preview of the object (metadata only when too large)",
        tags="objects",
        responses={200: PreviewOut, 401: Problem, 403: Problem, 404: Problem, 409: Problem},
    )
    async def get(self, rid: str, oid: str) -> None:
        self.write_json(await self.backend.previews.preview(self.principal, rid, oid))
