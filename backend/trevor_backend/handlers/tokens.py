"""The caller's API tokens (admins: anyone's): list and revoke."""

from __future__ import annotations

from ..schemas import Problem, TokenList, TokenOut
from ..services.tokens import TokenService
from .base import BaseHandler
from .spec import operation


class _TokenBase(BaseHandler):
    @property
    def tokens(self) -> TokenService:
        return self.backend.tokens


class TokensHandler(_TokenBase):
    @operation(
        "The caller's API tokens, newest first (admins: ?user=NAME, or ?user=* for all)",
        tags="tokens",
        query={"user": "admins only: whose tokens (a username, or * for every user)"},
        responses={200: TokenList, 401: Problem},
    )
    async def get(self) -> None:
        self.write_json(await self.tokens.list(self.principal, self.query("user")))


class TokenHandler(_TokenBase):
    @operation(
        "Revoke one of the caller's tokens (admins: anyone's); it answers 401 from then on",
        tags="tokens",
        responses={200: TokenOut, 401: Problem, 404: Problem},
    )
    async def delete(self, token_id: str) -> None:
        self.write_json(await self.tokens.revoke(self.principal, token_id))
