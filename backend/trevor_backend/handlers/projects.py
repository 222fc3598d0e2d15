"""One project with its members, and admins changing memberships (issue 12)."""

from __future__ import annotations

from ..schemas import MemberIn, MemberSet, Problem, ProjectDetail
from .base import BaseHandler
from .spec import operation

_ERRORS = {401: Problem, 404: Problem}


class ProjectHandler(BaseHandler):
    @operation(
        "A project, its SDC parameters and its members with their roles (admins; members of it)",
        tags="projects",
        responses={200: ProjectDetail, **_ERRORS},
    )
    async def get(self, pid: str) -> None:
        self.write_json(await self.backend.memberships.project(self.principal, pid))


class MemberHandler(BaseHandler):
    @operation(
        "Admin: give a user a role on the project (201 new, 200 changed or unchanged); a "
        "researcher/checker mix is refused with 409 role-conflict. Audited.",
        tags="projects",
        body=MemberIn,
        responses={200: MemberSet, 201: MemberSet, 403: Problem, 409: Problem, 422: Problem},
    )
    async def put(self, pid: str, username: str) -> None:
        body = self.parse(MemberIn)
        out = await self.backend.memberships.set_member(self.principal, pid, username, body.role)
        self.write_json(out, 201 if out.created else 200)

    @operation(
        "Admin: remove a user's membership of the project. Audited.",
        tags="projects",
        responses={204: None, 403: Problem, 422: Problem, **_ERRORS},
    )
    async def delete(self, pid: str, username: str) -> None:
        await self.backend.memberships.remove_member(self.principal, pid, username)
        self.set_status(204)
        self.finish()
