"""``GET …/objects/{oid}/source``: what was recorded at source for an object version
(``services/sources.py``), for the checker's review view."""

from __future__ import annotations

from ..schemas import ObjectSourceOut, Problem
from ..services.sources import object_source
from .base import BaseHandler
from .spec import operation


class ObjectSourceHandler(BaseHandler):
    @operation(
        "Evidence and provenance recorded at source for the object version",
        tags="objects",
        responses={200: ObjectSourceOut, 401: Problem, 404: Problem},
    )
    async def get(self, rid: str, oid: str) -> None:
        _, obj = await self.backend.requests.get_object(self.principal, rid, oid)
        self.write_json(object_source(obj))
