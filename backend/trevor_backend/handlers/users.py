"""The caller, their projects, and the statbarn catalogue."""

from __future__ import annotations

from sqlalchemy import select

from ..orm import Project, User
from ..schemas import MembershipOut, ProjectList, ProjectOut, StatbarnList, UserMe
from ..sdc import statbarns
from .base import BaseHandler
from .spec import operation


class MeHandler(BaseHandler):
    @operation("The caller and their memberships", tags="users", responses={200: UserMe})
    async def get(self) -> None:
        p = self.principal
        async with self.ctx.sessions() as session:
            user = await session.get(User, p.user_id)
        assert user is not None
        self.write_json(
            UserMe(
                username=user.username,
                display_name=user.display_name,
                email=user.email,
                admin=user.admin,
                memberships=[
                    MembershipOut(project=pid, role=role) for pid, role in sorted(p.roles.items())
                ],
            )
        )


class ProjectsHandler(BaseHandler):
    @operation(
        "Projects the caller belongs to (all, for admins)",
        tags="projects",
        responses={200: ProjectList},
    )
    async def get(self) -> None:
        p = self.principal
        q = select(Project).order_by(Project.id)
        if not p.admin:
            q = q.where(Project.id.in_(list(p.roles)))
        async with self.ctx.sessions() as session:
            projects = list(await session.scalars(q))
        self.write_json(
            ProjectList(
                items=[
                    ProjectOut(
                        id=pr.id, name=pr.name, description=pr.description, my_role=p.role_in(pr.id)
                    )
                    for pr in projects
                ]
            )
        )


class StatbarnsHandler(BaseHandler):
    @operation("The statbarn catalogue", tags="sdc", responses={200: StatbarnList})
    async def get(self) -> None:
        self.write_json(StatbarnList(items=[sb.to_dict() for sb in statbarns.CATALOGUE.values()]))
