"""Ingress deliveries into researchers' workspaces (the server extension fetches and
acknowledges them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ..contract import RequestStatus


class DeliveryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    request_title: str
    project: str
    object_id: str
    filename: str
    sha256: str
    size: int
    media_type: str
    content_url: str = Field(description="backend path of the bytes (send the token)")


class DeliveryList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[DeliveryItem]


class DeliveryAck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(min_length=64, max_length=64, description="sha256 the workspace verified")
    target: str | None = Field(
        default=None, max_length=1024, description="where the file was written"
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object_id: str
    request_id: str
    delivered_at: datetime
    request_status: RequestStatus
