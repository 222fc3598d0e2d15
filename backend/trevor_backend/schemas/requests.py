"""Requests, their objects and metadata, and evidence sent with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from ..contract import Direction, ObjectState, RequestStatus
from .base import TEXT_MAX, TITLE_MAX, Model


class RequestCreate(Model):
    project: str = Field(min_length=1, max_length=128)
    direction: Direction = Direction.EGRESS
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=TEXT_MAX)

    @field_validator("title")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class MetadataIn(Model):
    """Metadata of a logical object. Fields left out keep their current value."""

    title: str | None = Field(default=None, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=TEXT_MAX)
    statbarn: str | None = Field(default=None, max_length=64)
    justification: str | None = Field(default=None, max_length=TEXT_MAX)
    suppression_notes: str | None = Field(default=None, max_length=TEXT_MAX)
    tags: list[str] | None = Field(default=None, max_length=50)


class MetadataOut(Model):
    title: str
    description: str
    statbarn: str | None
    justification: str
    suppression_notes: str
    tags: list[str]


class ObjectOut(Model):
    id: str
    logical_id: str
    version: int
    supersedes_id: str | None
    filename: str
    media_type: str
    size: int
    sha256: str
    state: ObjectState
    created_at: datetime
    metadata: MetadataOut
    has_evidence: bool
    verdict: Literal["pass", "fail", "review"] | None = None


class RequestOut(Model):
    id: str
    project: str
    direction: Direction
    title: str
    description: str
    status: RequestStatus
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    actions: list[str] = Field(description="Actions the caller may take now")
    objects: list[ObjectOut]


class RequestList(Model):
    items: list[RequestOut]
    next_cursor: str | None


class EvidenceIn(Model):
    """SDC evidence computed in the kernel, bound to the object's sha256, plus provenance."""

    evidence: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
