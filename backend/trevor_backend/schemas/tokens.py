"""API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .base import Model


class TokenOut(Model):
    id: str
    user: str
    prefix: str = Field(description="The secret's first characters, to tell tokens apart")
    note: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most every few minutes")


class TokenList(Model):
    items: list[TokenOut]
