"""API tokens: random secrets shown once, stored as SHA-256 digests.

Every request looks its token up in the database (one indexed read, no cache), so a revoked
token (its row deleted, see ``services/tokens.py``) answers 401 at once on every replica. The
token, its user and the user's project roles come back from one statement: a per-process cache
would still need a query per request to learn of revocations in other processes, and that
query costs as much as this one.
Authentication reads only: ``last_used_at`` is refreshed in its own short write transaction at
most once per ``last_used_resolution`` (five minutes by default, never under one) per token,
so reads practically never take SQLite's write lock.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets import Float

from ..contract import Role
from ..db import Sessions
from ..orm import APIToken, Membership, User, utcnow
from ..principal import Principal
from ..reads import ReadDriver, sql
from ..reads.render import stamp
from .base import Authenticator, bearer_token

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest

log = logging.getLogger("trevor_backend.auth")

TOKEN_PREFIX = "trv_"
#: sql.AUTH with its placeholder, per dialect (one text, so the driver's statement is reused)
_AUTH: dict[str, str] = {}


def hash_token(secret: str) -> str:
    # Tokens carry 256 random bits, so a plain digest (no salt, no KDF) is enough: there is
    # nothing to brute-force, and lookups stay a single indexed equality.
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(session: AsyncSession, user: User, note: str | None = None) -> str:
    """Create a token for ``user`` and return the secret; only its hash is stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        APIToken(user_id=user.id, token_hash=hash_token(secret), prefix=secret[:8], note=note)
    )
    await session.flush()
    return secret


class TokenAuthenticator(Authenticator):
    """``Authorization: Bearer trv_…`` API tokens (the default)."""

    last_used_resolution = Float(
        300.0,
        config=True,
        help="Seconds between updates of a token's last_used_at (at least 60).",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # token id -> monotonic time of the last update this process scheduled
        self._touched: dict[str, float] = {}

    async def authenticate(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> Principal | None:
        """The caller's principal from one statement (token, user and roles joined)."""
        secret = bearer_token(request)
        if not secret:
            return None
        rows = (
            await session.execute(
                select(
                    APIToken.id,
                    APIToken.expires_at,
                    APIToken.last_used_at,
                    User.id,
                    User.username,
                    User.admin,
                    Membership.project_id,
                    Membership.role,
                )
                .join(User, User.id == APIToken.user_id)
                .outerjoin(Membership, Membership.user_id == User.id)
                .where(APIToken.token_hash == hash_token(secret))
            )
        ).all()
        return await self._principal(rows)

    async def authenticate_read(
        self, request: HTTPServerRequest, reads: ReadDriver
    ) -> Principal | None:
        """:meth:`authenticate` through the lean read path: the same statement, in SQL text."""
        if type(self).authenticate is not TokenAuthenticator.authenticate:
            # A subclass that authenticates its own way keeps its way.
            return await super().authenticate_read(request, reads)
        secret = bearer_token(request)
        if not secret:
            return None
        text = _AUTH.get(reads.dialect)
        if text is None:
            text = _AUTH[reads.dialect] = sql.AUTH.format(token=sql.Sql(reads.dialect).param(""))
        async with reads.reading() as reader:
            rows = await reader.fetch(text, (hash_token(secret),))
        return await self._principal(rows)

    async def _principal(self, rows: Sequence[Sequence[Any]]) -> Principal | None:
        """The principal from the token/user/roles rows (none: an unknown token)."""
        if not rows:
            return None
        token_id, expires_at, last_used_at, user_id, username, admin = rows[0][:6]
        # The lean path's SQLite rows hold timestamps as text.
        if expires_at is not None and not self._unexpired(stamp(expires_at)):
            return None
        await self._touch_if_due(token_id, None if last_used_at is None else stamp(last_used_at))
        roles = {row[6]: Role(row[7]) for row in rows if row[6] is not None}
        return Principal(user_id=user_id, name=username, admin=bool(admin), roles=roles)

    @staticmethod
    def _unexpired(expires_at: datetime | None) -> bool:
        return expires_at is None or expires_at > utcnow()

    async def _touch_if_due(self, token_id: str, last_used_at: datetime | None) -> None:
        if last_used_at is None or utcnow() - last_used_at > self._resolution:
            await self._touch_due(token_id)

    async def authenticate_user(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> User | None:
        principal = await self.authenticate(request, session)
        return None if principal is None else await session.get(User, principal.user_id)

    @property
    def _resolution(self) -> timedelta:
        return timedelta(seconds=max(60.0, self.last_used_resolution))

    async def _touch_due(self, token_id: str) -> None:
        # At most once per resolution per token and process: nearly every request only reads.
        # Done in the request (not in a background task) so the write never outlives it.
        if self.sessions is None:
            return
        clock = time.monotonic()
        if clock - self._touched.get(token_id, -1e18) < self._resolution.total_seconds():
            return
        self._touched[token_id] = clock
        await self._touch(self.sessions, token_id)

    async def _touch(self, sessions: Sessions, token_id: str) -> None:
        now = utcnow()
        try:
            async with sessions.begin() as session:
                # Conditional, so replicas racing on the same token write it once.
                await session.execute(
                    update(APIToken)
                    .where(
                        APIToken.id == token_id,
                        or_(
                            APIToken.last_used_at.is_(None),
                            APIToken.last_used_at < now - self._resolution,
                        ),
                    )
                    .values(last_used_at=now)
                )
        except Exception:
            # Bookkeeping only: a busy or briefly unreachable database must not fail requests.
            self._touched.pop(token_id, None)
            log.debug("could not update last_used_at of token %s", token_id, exc_info=True)

    async def drain(self) -> None:
        """Kept for callers that wait for bookkeeping; updates finish within the request."""
