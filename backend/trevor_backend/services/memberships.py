"""Reading a project with its members, and admins changing memberships through the API.

The role rules live in ``services.projects`` (``set_membership``, ``remove_membership``); this
module adds the admin-facing reads and writes around them. The YAML project source remains the
source of truth when it is synced: see ``projects.sync_projects`` and docs/dashboard.md
("Memberships and the project file").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..contract import Role
from ..errors import FieldError, Forbidden, NotFound, ValidationFailed
from ..orm import Membership, Project, User
from ..principal import Principal
from ..schemas import MemberOut, MemberSet, ProjectDetail
from .context import Context
from .projects import remove_membership, set_membership, user_by_name


def require_admin(p: Principal) -> None:
    if not p.admin:
        raise Forbidden("only an admin may do this")


class MembershipService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def project(self, p: Principal, pid: str) -> ProjectDetail:
        """Admins see every project; members see their own (404 for the rest)."""
        async with self.ctx.sessions() as session:
            project = await session.get(Project, pid)
            if project is None or not (p.admin or p.role_in(pid)):
                raise NotFound(f"no project {pid!r}")
            rows = await session.execute(
                select(User.username, User.display_name, Membership.role, Membership.created_at)
                .join(User, User.id == Membership.user_id)
                .where(Membership.project_id == pid)
                .order_by(Membership.role, User.username)
            )
            members = [
                MemberOut(username=u, display_name=d, role=Role(role), since=since)
                for u, d, role, since in rows
            ]
            return ProjectDetail(
                id=project.id,
                name=project.name,
                description=project.description,
                sdc_params=dict(project.sdc_params or {}),
                members=members,
            )

    async def _target(self, session: Any, pid: str, username: str) -> User:
        if await session.get(Project, pid) is None:
            raise NotFound(f"no project {pid!r}")
        user = await user_by_name(session, username)
        if user is None:
            raise ValidationFailed(
                f"unknown user {username!r}",
                errors=[FieldError("/username", "no such user; users come from the project file")],
            )
        return user

    async def set_member(self, p: Principal, pid: str, username: str, role: Role) -> MemberSet:
        require_admin(p)
        async with self.ctx.sessions.begin() as session:
            user = await self._target(session, pid, username)
            created = await session.get(Membership, (pid, user.id)) is None
            await set_membership(session, p, pid, user, role)
        return MemberSet(project=pid, username=username, role=role, created=created)

    async def remove_member(self, p: Principal, pid: str, username: str) -> None:
        require_admin(p)
        async with self.ctx.sessions.begin() as session:
            user = await self._target(session, pid, username)
            await remove_membership(session, p, pid, user)

    async def users(self, p: Principal) -> list[tuple[str, str | None]]:
        """Every user (username, display name), for the dashboard's member form."""
        require_admin(p)
        async with self.ctx.sessions() as session:
            rows = await session.execute(
                select(User.username, User.display_name).order_by(User.username)
            )
            return [(u, d) for u, d in rows]
