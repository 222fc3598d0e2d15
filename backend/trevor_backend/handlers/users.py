"""The caller, their projects, and the statbarn catalogue."""

from __future__ import annotations

from ..schemas import ProjectList, StatbarnList, UserMe
from ..services import statbarns
from .base import BaseHandler
from .spec import operation


class MeHandler(BaseHandler):
    @operation("The caller and their memberships", tags="users", responses={200: UserMe})
    async def get(self) -> None:
        self.write_json(await self.backend.projects.me(self.principal))


class ProjectsHandler(BaseHandler):
    @operation(
        "Projects the caller belongs to (all, for admins)",
        tags="projects",
        responses={200: ProjectList},
    )
    async def get(self) -> None:
        self.write_json(await self.backend.projects.list(self.principal))


class StatbarnsHandler(BaseHandler):
    @operation(
        "The statbarn catalogue, with this deployment's SDC parameters",
        tags="sdc",
        responses={200: StatbarnList},
    )
    async def get(self) -> None:
        self.write_json(statbarns.catalogue(self.ctx))
