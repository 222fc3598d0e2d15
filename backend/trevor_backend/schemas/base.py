"""Bases of the API models: closed (``Model``) and open to later engine fields (``Open``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

TITLE_MAX = 500
TEXT_MAX = 20_000


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """A documented shape that tolerates fields added later by the SDC engine."""

    model_config = ConfigDict(extra="allow")
