"""Shadow users: local records of people an outside identity system vouches for.

The OIDC and JupyterHub authenticators learn a username, contact details, an admin flag and
groups from the identity system; this module turns them into a ``User`` row and, when configured,
project memberships. The identity system is then the source of truth for what it manages (the
admin flag when ``admin_groups`` is set; memberships when ``manage_roles`` is on) and the
researcher/checker rule still holds: groups that would make someone both on one project change
nothing on that project and leave an audit event saying so.

Writes happen in their own transaction, only when something changed (the authenticating read
session never writes), and a process remembers what it last wrote for ``shadow_refresh_seconds``
so repeated API calls with the same claims cost one read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from traitlets import Bool, Dict, Float, List, Unicode, validate
from traitlets.utils.bunch import Bunch

from .. import db
from ..contract import CHECKER_ROLES, Role
from ..errors import Unauthorized
from ..orm import Membership, Project, User
from ..principal import Principal
from ..services import audit
from ..services.projects import conflicting, remove_membership, set_membership, user_by_name
from .base import principal_for
from .tokens import TokenAuthenticator

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest

log = logging.getLogger("trevor_backend.auth")

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$")
# senior_checker outranks output_checker when groups give both on one project
_RANK = {Role.OUTPUT_CHECKER: 1, Role.SENIOR_CHECKER: 2}


@dataclass(frozen=True)
class Identity:
    """What an identity system says about a caller."""

    username: str
    method: str
    email: str | None = None
    display_name: str | None = None
    groups: tuple[str, ...] = ()
    #: extra facts for the audit event of a login (issuer, subject, client)
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Plan:
    """What the local records should say: admin flag (None: leave) and roles (None: leave)."""

    admin: bool | None
    roles: dict[str, Role] | None
    conflicts: dict[str, list[str]]


class ShadowUserAuthenticator(TokenAuthenticator):
    """Base of authenticators backed by an identity system; API tokens keep working."""

    admin_groups = List(
        Unicode(),
        config=True,
        help="Groups whose members are trevor admins. When set, the admin flag follows the "
        "groups at every login (an admin removed from the group loses it); when empty, the "
        "flag is left to `sync-projects` and the command line.",
    )
    manage_roles = Bool(
        False,
        config=True,
        help="Take project roles from the groups (role_groups, role_group_pattern): the "
        "identity system becomes the source of truth for the user's memberships.",
    )
    role_groups = Dict(
        Unicode(),
        config=True,
        help='Group → "PROJECT:ROLE", e.g. {"/trevor/p1/checkers": "p1:output_checker"}.',
    )
    role_group_pattern = Unicode(
        r"^/?trevor[:/](?P<project>[A-Za-z0-9_-]+)[:/](?P<role>researcher|output_checker|"
        r"senior_checker)$",
        config=True,
        help="Regular expression with named groups `project` and `role`; a group name that "
        "matches grants that role (e.g. `trevor:p1:researcher` or Keycloak's full path "
        "`/trevor/p1/researcher`). Empty: only role_groups.",
    )
    shadow_refresh_seconds = Float(
        300.0,
        config=True,
        help="Seconds a process trusts its last update of a user's record from the same "
        "claims before comparing them with the database again.",
    )

    @validate("role_groups")
    def _check_role_groups(self, proposal: Bunch) -> dict[str, str]:
        groups: dict[str, str] = proposal["value"]
        for group, target in groups.items():
            _parse_target(group, target)
        return groups

    @validate("role_group_pattern")
    def _check_pattern(self, proposal: Bunch) -> str:
        pattern: str = proposal["value"]
        if pattern:
            compiled = re.compile(pattern)
            if not {"project", "role"} <= set(compiled.groupindex):
                raise ValueError("role_group_pattern needs named groups 'project' and 'role'")
        return pattern

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fresh: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _sessions(self, session: AsyncSession) -> db.Sessions:
        # Writes go in a transaction of their own, never in the caller's read session: the
        # running backend's session factory when it gave us one, else one on the same engine.
        if self.sessions is not None:
            return self.sessions
        engine = session.bind
        assert isinstance(engine, AsyncEngine)  # sessions are made on engines, not connections
        return db.session_factory(engine)

    # --- from groups to a plan ----------------------------------------------------------------

    def plan(self, identity: Identity) -> Plan:
        groups = set(identity.groups)
        admin = bool(groups & set(self.admin_groups)) if self.admin_groups else None
        if not self.manage_roles:
            return Plan(admin=admin, roles=None, conflicts={})
        claimed: dict[str, set[Role]] = {}
        pattern = re.compile(self.role_group_pattern) if self.role_group_pattern else None
        for group in sorted(groups):
            target = self.role_groups.get(group)
            if target is not None:
                project, role = _parse_target(group, target)
            elif pattern is not None and (m := pattern.fullmatch(group)):
                project, role = m["project"], Role(m["role"])
            else:
                continue
            claimed.setdefault(project, set()).add(role)
        roles: dict[str, Role] = {}
        conflicts: dict[str, list[str]] = {}
        for project, wanted in claimed.items():
            if Role.RESEARCHER in wanted and wanted & CHECKER_ROLES:
                conflicts[project] = sorted(r.value for r in wanted)
                continue
            roles[project] = max(wanted, key=lambda r: _RANK.get(r, 0))
        return Plan(admin=admin, roles=roles, conflicts=conflicts)

    async def token_principal(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> Principal | None:
        """A ``trv_`` API token's principal (automation keeps working beside the provider)."""
        principal = await TokenAuthenticator.authenticate(self, request, session)
        if principal is None or principal.auth_method:
            return principal
        return dataclasses.replace(principal, auth_method="token")

    # --- applying it --------------------------------------------------------------------------

    async def shadow_principal(self, session: AsyncSession, identity: Identity) -> Principal:
        """The caller's principal, after bringing their local records up to date."""
        if not USERNAME.fullmatch(identity.username):
            raise Unauthorized(
                f"the identity provider's username {identity.username!r} is not usable"
            )
        plan = self.plan(identity)
        fingerprint = _fingerprint(identity, plan)
        seen = self._fresh.get(identity.username)
        if (
            seen is None
            or seen[0] != fingerprint
            or time.monotonic() - seen[1] > (self.shadow_refresh_seconds)
        ):
            await self._write(self._sessions(session), identity, plan)
            self._fresh[identity.username] = (fingerprint, time.monotonic())
        user = await user_by_name(session, identity.username)
        if user is None:  # written in another transaction than this read session's snapshot
            async with self._sessions(session)() as fresh:
                user = await user_by_name(fresh, identity.username)
                if user is None:
                    raise Unauthorized("the user record could not be created")
                principal = await principal_for(fresh, user)
        else:
            principal = await principal_for(session, user)
        return dataclasses.replace(principal, auth_method=identity.method)

    async def _write(self, sessions: db.Sessions, identity: Identity, plan: Plan) -> None:
        lock = self._locks.setdefault(identity.username, asyncio.Lock())
        async with lock:
            for attempt in range(2):
                try:
                    async with sessions.begin() as session:
                        await apply_identity(session, identity, plan)
                    return
                except IntegrityError:
                    # Another replica created the same user at the same moment: update it.
                    if attempt:
                        raise


def _parse_target(group: str, target: str) -> tuple[str, Role]:
    project, _, role = target.partition(":")
    try:
        return project, Role(role)
    except ValueError:
        raise ValueError(
            f'role_groups[{group!r}] must be "PROJECT:ROLE" with a role of '
            f"{', '.join(r.value for r in Role)}; got {target!r}"
        ) from None


def _fingerprint(identity: Identity, plan: Plan) -> str:
    body = json.dumps(
        [
            identity.email,
            identity.display_name,
            plan.admin,
            None if plan.roles is None else {p: r.value for p, r in plan.roles.items()},
            plan.conflicts,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def apply_identity(session: AsyncSession, identity: Identity, plan: Plan) -> User:
    """Create or update ``identity``'s user and memberships per ``plan``; every change audited."""
    actor = Principal(user_id=None, name=f"identity:{identity.method}", auth_method=identity.method)
    user = await user_by_name(session, identity.username)
    if user is None:
        user = User(
            username=identity.username,
            email=identity.email,
            display_name=identity.display_name,
            admin=bool(plan.admin),
        )
        session.add(user)
        await session.flush()
        await audit.record(
            session,
            "user.created",
            actor,
            payload={
                "user": user.username,
                "admin": user.admin,
                "method": identity.method,
                **identity.details,
            },
        )
    else:
        wanted: dict[str, Any] = {}
        if identity.email is not None:
            wanted["email"] = identity.email
        if identity.display_name is not None:
            wanted["display_name"] = identity.display_name
        if plan.admin is not None:
            wanted["admin"] = plan.admin
        changes = {k: v for k, v in wanted.items() if getattr(user, k) != v}
        if changes:
            for k, v in changes.items():
                setattr(user, k, v)
            await audit.record(
                session,
                "user.updated",
                actor,
                payload={"user": user.username, "method": identity.method, "changes": changes},
            )
    for project_id, roles in sorted(plan.conflicts.items()):
        await audit.record(
            session,
            "membership.refused",
            actor,
            project_id=project_id if await session.get(Project, project_id) else None,
            payload={
                "user": user.username,
                "project": project_id,
                "roles": roles,
                "reason": "a user can never be researcher and checker on the same project",
            },
        )
    if plan.roles is not None:
        await _sync_memberships(session, actor, user, plan)
    return user


async def _sync_memberships(
    session: AsyncSession, actor: Principal, user: User, plan: Plan
) -> None:
    assert plan.roles is not None
    known = set(await session.scalars(select(Project.id).where(Project.id.in_(list(plan.roles)))))
    wanted = {p: r for p, r in plan.roles.items() if p in known}
    for missing in sorted(set(plan.roles) - known):
        log.warning("groups of %s name project %s, which does not exist", user.username, missing)
    current = {
        m.project_id: m
        for m in await session.scalars(select(Membership).where(Membership.user_id == user.id))
    }
    for project_id, membership in current.items():
        if project_id in plan.conflicts:
            continue  # refused above: leave the project as it was
        role = wanted.get(project_id)
        if role is None or conflicting(Role(membership.role), role):
            await remove_membership(session, actor, project_id, user)
    await session.flush()
    for project_id, role in sorted(wanted.items()):
        await set_membership(session, actor, project_id, user, role)


def invalid_token(detail: str) -> Unauthorized:
    """A 401 for a credential that was presented but is not good (RFC 6750 §3.1)."""
    challenge = f'Bearer realm="trevor", error="invalid_token", error_description="{detail}"'
    return Unauthorized(detail, headers={"WWW-Authenticate": challenge})
