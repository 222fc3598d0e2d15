"""Projects, users and memberships, and the project source that keeps them in sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets.config import LoggingConfigurable

from ..contract import CHECKER_ROLES, Role
from ..errors import FieldError, NotFound, RoleConflict, ValidationFailed
from ..orm import AuditEvent, Membership, Project, User
from ..principal import Principal
from ..schemas import MembershipOut, ProjectList, ProjectOut, UserMe
from . import audit


def conflicting(role_a: Role, role_b: Role) -> bool:
    """Researcher and any checker role on one project is the forbidden combination."""
    roles = {role_a, role_b}
    return Role.RESEARCHER in roles and bool(roles & CHECKER_ROLES)


async def set_membership(
    session: AsyncSession, actor: Principal, project_id: str, user: User, role: Role
) -> Membership:
    """Give ``user`` ``role`` on the project, refusing a researcher/checker mix.

    A user holds one role per project, so changing researcher → checker is itself the
    conflict we refuse: a former researcher must be removed first, deliberately.
    """
    existing = await session.get(Membership, (project_id, user.id))
    if existing is not None:
        if existing.role == role.value:
            return existing
        if conflicting(Role(existing.role), role):
            raise RoleConflict(
                f"{user.username} is {existing.role} on project {project_id} and cannot also "
                f"be {role.value}; remove the existing membership first"
            )
        existing.role = role
    else:
        existing = Membership(project_id=project_id, user_id=user.id, role=role)
        session.add(existing)
    await audit.record(
        session,
        "membership.set",
        actor,
        project_id=project_id,
        payload={"user": user.username, "role": role.value},
    )
    await session.flush()
    return existing


async def remove_membership(
    session: AsyncSession, actor: Principal, project_id: str, user: User
) -> None:
    existing = await session.get(Membership, (project_id, user.id))
    if existing is None:
        raise NotFound(f"{user.username} is not a member of {project_id}")
    await session.delete(existing)
    await audit.record(
        session,
        "membership.removed",
        actor,
        project_id=project_id,
        payload={"user": user.username, "role": existing.role},
    )


class ProjectService:
    """The caller's own record and projects (the API's read side of this module)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    async def me(self, p: Principal) -> UserMe:
        async with self.ctx.sessions() as session:
            user = await session.get(User, p.user_id)
        if user is None:
            raise NotFound("user not found")
        return UserMe(
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            admin=user.admin,
            memberships=[
                MembershipOut(project=pid, role=role) for pid, role in sorted(p.roles.items())
            ],
        )

    async def list(self, p: Principal) -> ProjectList:
        q = select(Project).order_by(Project.id)
        if not p.admin:
            q = q.where(Project.id.in_(list(p.roles)))
        async with self.ctx.sessions() as session:
            projects = list(await session.scalars(q))
        return ProjectList(
            items=[
                ProjectOut(
                    id=pr.id, name=pr.name, description=pr.description, my_role=p.role_in(pr.id)
                )
                for pr in projects
            ]
        )


async def user_by_name(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


# --- the YAML project source (SPEC §9) -------------------------------------------------------


class _UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=255)
    email: str | None = None
    display_name: str | None = None


class _MemberSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str
    role: Role


class _ProjectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str
    description: str = ""
    sdc_params: dict[str, Any] = Field(default_factory=dict)
    members: list[_MemberSpec] = Field(default_factory=list)


class ProjectFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[_UserSpec] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)
    projects: list[_ProjectSpec] = Field(default_factory=list)


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: memberships last changed by a person (API or dashboard) that the file overrides
    drift: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def lines(self) -> list[str]:
        out = [f"! {d}" for d in self.drift]
        out += [f"+ {c}" for c in self.created] + [f"~ {u}" for u in self.updated]
        return out + [f"- {r}" for r in self.removed] or ["no changes"]


async def _last_changes(session: AsyncSession, project_id: str) -> dict[str, AuditEvent]:
    """The latest ``membership.*`` event of each user of the project (by username)."""
    events = await session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.project_id == project_id,
            AuditEvent.type.in_(("membership.set", "membership.removed")),
        )
        .order_by(AuditEvent.seq)
    )
    return {str(ev.payload.get("user")): ev for ev in events}


async def _report_drift(
    session: AsyncSession,
    actor: Principal,
    project_id: str,
    have: dict[str, Role],
    wanted: dict[str, Role],
    report: SyncReport,
) -> None:
    """Before the file wins: name (and audit) each membership the sync is about to change whose
    current state a person made through the API or dashboard. Changes the sync itself (or
    another system actor) made are the file's own history, not drift."""
    last = await _last_changes(session, project_id)
    for name in sorted(set(have) | set(wanted)):
        here, there = have.get(name), wanted.get(name)
        ev = last.get(name)
        if (there.value if there else None) == here or ev is None or ev.actor_id is None:
            continue
        became = f"{here} on {project_id}" if here else f"not a member of {project_id}"
        then = f"{there.value} as the file says" if there else "removed, not in the file"
        report.drift.append(
            f"{name}: {ev.actor} made them {became} at {ev.created_at:%Y-%m-%d %H:%M} UTC "
            f"(audit event {ev.seq}); the file overrides it: {then}"
        )
        await audit.record(
            session,
            "membership.drift_overridden",
            actor,
            project_id=project_id,
            payload={
                "user": name,
                "role_here": here,
                "role_in_file": there.value if there else None,
                "changed_by": ev.actor,
                "change_seq": ev.seq,
            },
        )


def _pointer(loc: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(p) for p in loc)


def parse_project_file(data: Any) -> ProjectFile:
    try:
        spec = ProjectFile.model_validate(data or {})
    except ValidationError as exc:
        raise ValidationFailed(
            "invalid project file",
            errors=[FieldError(_pointer(e["loc"]), e["msg"]) for e in exc.errors()],
        ) from exc
    known = {u.username for u in spec.users} | set(spec.admins)
    errors: list[FieldError] = []
    for pi, project in enumerate(spec.projects):
        roles: dict[str, Role] = {}
        for mi, member in enumerate(project.members):
            where = f"/projects/{pi}/members/{mi}"
            if member.user not in known:
                errors.append(FieldError(f"{where}/user", f"unknown user {member.user!r}"))
            prior = roles.get(member.user)
            if prior is not None and (prior == member.role or conflicting(prior, member.role)):
                errors.append(
                    FieldError(
                        f"{where}/role",
                        f"{member.user} is already {prior.value} on {project.id}; a user cannot "
                        "be researcher and checker on the same project",
                    )
                )
            roles[member.user] = member.role
    if errors:
        raise ValidationFailed("invalid project file", errors=errors)
    return spec


class ProjectSource(LoggingConfigurable):
    """Where projects and memberships come from (``TrevorBackend.project_source_class``)."""

    async def load(self) -> ProjectFile:
        raise NotImplementedError


class YAMLProjectSource(ProjectSource):
    def __init__(self, path: str | Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = Path(path)

    async def load(self) -> ProjectFile:
        return parse_project_file(yaml.safe_load(self.path.read_text()))


async def sync_projects(session: AsyncSession, actor: Principal, spec: ProjectFile) -> SyncReport:
    """Make the database match ``spec``: idempotent, and reports what changed.

    Memberships not in the file are removed; projects and users are never deleted (their
    requests and audit history refer to them). The file wins over changes made through the
    API or dashboard; each one it overrides is reported first (``SyncReport.drift``) and
    audited (``membership.drift_overridden``), see docs/dashboard.md.
    """
    report = SyncReport()
    admins = set(spec.admins)
    users: dict[str, User] = {}
    for u in [*spec.users, *(_UserSpec(username=a) for a in admins)]:
        if u.username in users:
            continue
        user = await user_by_name(session, u.username)
        if user is None:
            user = User(
                username=u.username,
                email=u.email,
                display_name=u.display_name,
                admin=u.username in admins,
            )
            session.add(user)
            report.created.append(f"user {u.username}")
        else:
            changes = {
                "email": u.email if u.email is not None else user.email,
                "display_name": u.display_name if u.display_name is not None else user.display_name,
                "admin": u.username in admins,
            }
            if any(getattr(user, k) != v for k, v in changes.items()):
                for k, v in changes.items():
                    setattr(user, k, v)
                report.updated.append(f"user {u.username}")
        users[u.username] = user
    await session.flush()

    for p in spec.projects:
        project = await session.get(Project, p.id)
        if project is None:
            project = Project(
                id=p.id, name=p.name, description=p.description, sdc_params=p.sdc_params
            )
            session.add(project)
            report.created.append(f"project {p.id}")
        elif (project.name, project.description, project.sdc_params) != (
            p.name,
            p.description,
            p.sdc_params,
        ):
            project.name, project.description, project.sdc_params = (
                p.name,
                p.description,
                p.sdc_params,
            )
            report.updated.append(f"project {p.id}")
        await session.flush()

        wanted = {m.user: m.role for m in p.members}
        current = {
            m.user_id: m
            for m in await session.scalars(select(Membership).where(Membership.project_id == p.id))
        }
        by_id = {users[name].id: name for name in wanted}
        names = dict(
            (
                await session.execute(
                    select(User.id, User.username).where(User.id.in_(list(current)))
                )
            ).all()
        )
        have = {names[uid]: m.role for uid, m in current.items()}
        await _report_drift(session, actor, p.id, have, wanted, report)
        # Remove first, so that a role change between conflicting roles is a remove + add.
        for user_id, membership in current.items():
            name = by_id.get(user_id)
            if name is None or conflicting(Role(membership.role), wanted[name]):
                user = await session.get(User, user_id)
                assert user is not None
                await remove_membership(session, actor, p.id, user)
                report.removed.append(f"{user.username} as {membership.role} on {p.id}")
        await session.flush()
        for name, role in wanted.items():
            user = users[name]
            existing = await session.get(Membership, (p.id, user.id))
            if existing is not None and existing.role == role.value:
                continue
            await set_membership(session, actor, p.id, user, role)
            line = f"{name} as {role.value} on {p.id}"
            (report.updated if existing is not None else report.created).append(line)
    return report
