"""Object previews."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Model


class PreviewOut(Model):
    """A rendered object: ``html`` is a sanitised fragment, or null when only metadata is
    shown (too large, a type with no safe rendering, or a file the renderer could not read)."""

    object_id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    kind: Literal[
        "table", "markdown", "code", "text", "json", "image", "pdf", "notebook", "metadata", "none"
    ]
    html: str | None
    truncated: bool = Field(description="Only the first rows (tables) are shown")
    note: str | None
