"""Listing and revoking API tokens (``GET /api/v1/tokens``, ``DELETE …/{id}``, the CLI).

Revoking deletes the token's row: the authenticator looks every request's token up in the
database, so the next request with it answers 401 on every replica. What was revoked, by whom
and whose it was stays in the audit log (``token.revoked``); the secret itself was never stored.
"""

from __future__ import annotations

from sqlalchemy import select

from ..errors import NotFound
from ..orm import APIToken, User
from ..principal import Principal
from ..schemas import TokenList, TokenOut
from . import audit
from .context import Context


def token_out(t: APIToken, username: str) -> TokenOut:
    return TokenOut(
        id=t.id,
        user=username,
        prefix=t.prefix,
        note=t.note,
        created_at=t.created_at,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
    )


class TokenService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list(self, p: Principal, user: str | None = None) -> TokenList:
        """The caller's tokens; an admin (or the system) may name any user, or ``*`` for all."""
        q = select(APIToken, User.username).join(User, User.id == APIToken.user_id)
        if user is not None and (p.admin or p.is_system):
            if user != "*":
                q = q.where(User.username == user)
        else:
            q = q.where(APIToken.user_id == p.user_id)
        q = q.order_by(APIToken.created_at.desc(), APIToken.id.desc())
        async with self.ctx.sessions() as session:
            rows = (await session.execute(q)).all()
        return TokenList(items=[token_out(t, name) for t, name in rows])

    async def revoke(self, p: Principal, token_id: str) -> TokenOut:
        """Revoke a token of the caller's (any token, for admins and the system)."""
        async with self.ctx.sessions.begin() as session:
            row = (
                await session.execute(
                    select(APIToken, User.username)
                    .join(User, User.id == APIToken.user_id)
                    .where(APIToken.id == token_id)
                    .with_for_update(of=APIToken)
                )
            ).first()
            # Someone else's token is a 404, as for requests: ids do not leak across users.
            if row is None or not (p.admin or p.is_system or row[0].user_id == p.user_id):
                raise NotFound("token not found")
            token, username = row
            out = token_out(token, username)
            await session.delete(token)
            await audit.record(
                session,
                "token.revoked",
                p,
                payload={"token": token.id, "prefix": token.prefix, "user": username},
            )
        return out
