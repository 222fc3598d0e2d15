"""The authenticator interface, in the manner of JupyterHub's ``Authenticator``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets.config import LoggingConfigurable

from ..contract import Role
from ..db import Sessions
from ..orm import Membership, User
from ..principal import Principal
from ..reads import ReadDriver

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest


@dataclass(frozen=True)
class LoginOption:
    """One way to sign in to the dashboard, shown on its login page as a link button."""

    label: str
    url: str


class Authenticator(LoggingConfigurable):
    """Turns an HTTP request into a known user, or ``None`` for anonymous.

    Subclasses implement :meth:`authenticate_user`; role loading is shared so every
    authenticator yields the same :class:`Principal`. ``authenticate`` gets a read session
    and must not write in it (reads never take the write lock); ``sessions`` (set by the
    running backend) opens separate write transactions for bookkeeping.
    """

    sessions: Sessions | None = None

    def login_options(self, next_url: str) -> list[LoginOption]:
        """Ways to sign in that the dashboard's login page offers besides pasting an API token
        (docs/dashboard.md): an OIDC or JupyterHub authenticator returns its button here, with
        a URL that starts its flow and comes back to ``next_url``."""
        return []

    async def authenticate_user(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> User | None:
        raise NotImplementedError

    async def authenticate(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> Principal | None:
        user = await self.authenticate_user(request, session)
        if user is None:
            return None
        return await principal_for(session, user)

    async def authenticate_read(
        self, request: HTTPServerRequest, reads: ReadDriver
    ) -> Principal | None:
        """The caller of a GET served by the lean read path (``ctx.reads``). By default the
        ordinary way, in a read session of its own; the token authenticator reads through
        ``reads``."""
        assert self.sessions is not None, "the running backend sets sessions"
        async with self.sessions() as session:
            return await self.authenticate(request, session)


async def principal_for(session: AsyncSession, user: User) -> Principal:
    rows = await session.execute(
        select(Membership.project_id, Membership.role).where(Membership.user_id == user.id)
    )
    roles = {project_id: Role(role) for project_id, role in rows}
    return Principal(user_id=user.id, name=user.username, admin=user.admin, roles=roles)


def bearer_token(request: HTTPServerRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
