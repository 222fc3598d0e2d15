"""API tokens: random secrets shown once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets import Float

from ..orm import APIToken, User, utcnow
from .base import Authenticator, bearer_token

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest

TOKEN_PREFIX = "trv_"


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
        300.0, config=True, help="Seconds between updates of a token's last_used_at."
    )

    async def authenticate_user(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> User | None:
        secret = bearer_token(request)
        if not secret:
            return None
        token = await session.scalar(
            select(APIToken).where(APIToken.token_hash == hash_token(secret))
        )
        if token is None:
            return None
        now = utcnow()
        if token.expires_at is not None and token.expires_at <= now:
            return None
        if token.last_used_at is None or now - token.last_used_at > timedelta(
            seconds=self.last_used_resolution
        ):
            token.last_used_at = now
        return await session.get(User, token.user_id)
