"""RFC 9457 problem details."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .base import Model


class FieldErrorOut(Model):
    pointer: str
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details; extension members (e.g. current_state) may follow."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldErrorOut] = Field(default_factory=list)
