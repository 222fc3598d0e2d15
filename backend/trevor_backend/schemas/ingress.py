"""Ingress API models: upload slots for outside parties and the links admins manage."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import Model


class UploadSlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0, description="exact size of the file in bytes")
    sha256: str = Field(min_length=64, max_length=64, description="hex sha256 of the file")
    description: str = Field(default="", max_length=20_000)


class UploadSlotOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object_id: str
    url: str
    method: str = "PUT"
    expires_at: datetime
    headers: dict[str, str] = Field(
        default_factory=dict, description="headers the PUT must carry (Content-Length)"
    )


class UploadReceived(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object_id: str
    size: int
    sha256: str


LinkState = Literal["awaiting upload", "uploaded", "finalized", "expired"]


class UploadLinkOut(Model):
    id: str
    filename: str
    size: int
    sha256: str
    created_at: datetime
    expires_at: datetime
    state: LinkState
