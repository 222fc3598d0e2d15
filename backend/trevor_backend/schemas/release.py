"""The release of a request: its download link, and an admin's retry of a parked release."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from ..contract import RequestStatus


class ReleaseOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None
    expires_at: datetime | None
    sha256: str
    size: int
    filename: str
    downloads: int
    released_at: datetime
    url_kind: str  # "presigned" (S3) | "signed" (backend HMAC link)


class ReleaseRetryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    status: RequestStatus
    attempts: int
    last_error: str | None
