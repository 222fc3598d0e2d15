"""Dashboard sessions: an API token pasted once becomes a signed, HttpOnly, SameSite=Strict
cookie naming the token, so the secret itself never sits in the browser.

The cookie holds ``{user id, token id, issued}`` signed with the deployment's secret key
(Tornado's signed values, HMAC-SHA256) and lives at most ``SESSION_HOURS``. Every request
checks that the token still exists and has not expired, so revoking the token ends its
sessions; logging out clears the cookie.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from tornado.web import create_signed_value, decode_signed_value

from ..auth.base import principal_for
from ..auth.tokens import hash_token
from ..errors import Unauthorized
from ..orm import APIToken, User, utcnow
from ..principal import Principal
from ..services import audit
from ..services.context import Context

COOKIE = "trevor_dashboard"
SESSION_HOURS = 12


@dataclass(frozen=True)
class Session:
    user_id: str
    token_id: str
    issued: float


def encode(secret: bytes, s: Session) -> str:
    value = json.dumps({"u": s.user_id, "t": s.token_id, "i": s.issued})
    return create_signed_value(secret, COOKIE, value).decode()


def decode(secret: bytes, raw: str | None) -> Session | None:
    if not raw:
        return None
    value = decode_signed_value(secret, COOKIE, raw, max_age_days=SESSION_HOURS / 24)
    if value is None:
        return None
    try:
        data: dict[str, Any] = json.loads(value)
        return Session(str(data["u"]), str(data["t"]), float(data["i"]))
    except (ValueError, KeyError, TypeError):
        return None


async def principal_of(ctx: Context, s: Session) -> Principal | None:
    """The session's user, while its token is still valid (read only)."""
    async with ctx.sessions() as session:
        token = await session.get(APIToken, s.token_id)
        if token is None or token.user_id != s.user_id:
            return None
        if token.expires_at is not None and token.expires_at <= utcnow():
            return None
        user = await session.get(User, s.user_id)
        if user is None:
            return None
        return await principal_for(session, user)


async def login(ctx: Context, secret_token: str) -> tuple[Session, Principal]:
    """Exchange an API token for a session (audited as ``dashboard.login``)."""
    secret_token = secret_token.strip()
    async with ctx.sessions.begin() as session:
        token = await session.scalar(
            select(APIToken).where(APIToken.token_hash == hash_token(secret_token))
        )
        if token is None or (token.expires_at is not None and token.expires_at <= utcnow()):
            raise Unauthorized("that token is not valid")
        user = await session.get(User, token.user_id)
        if user is None:
            raise Unauthorized("that token is not valid")
        p = await principal_for(session, user)
        await audit.record(session, "dashboard.login", p, payload={"token": token.prefix})
        return Session(user.id, token.id, time.time()), p


async def logout(ctx: Context, p: Principal) -> None:
    async with ctx.sessions.begin() as session:
        await audit.record(session, "dashboard.logout", p)
