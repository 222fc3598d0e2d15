"""The versions of one logical object and the differences between them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Model
from .report import ObjectReviewOut
from .requests import ObjectOut


class LineageVersion(Model):
    object: ObjectOut
    agent: dict[str, Any] | None = Field(description="The agent's verdict on this version")
    reviews: list[ObjectReviewOut]


class CellChange(Model):
    row: Any
    column: Any
    old: str
    new: str


class TableDiff(Model):
    older: str = Field(description="object id of the earlier version")
    newer: str = Field(description="object id of the later version")
    comparable: bool
    note: str | None = None
    key: Literal["first_column", "position"] | None = None
    rows_added: list[Any] = Field(default_factory=list)
    rows_removed: list[Any] = Field(default_factory=list)
    columns_added: list[Any] = Field(default_factory=list)
    columns_removed: list[Any] = Field(default_factory=list)
    cells_changed: list[CellChange] = Field(default_factory=list)
    truncated: bool = False


class LineageOut(Model):
    logical_id: str
    versions: list[LineageVersion]
    diffs: list[TableDiff] = Field(
        description="Cell-level differences between consecutive CSV/TSV versions (or the pair "
        "asked for with ?diff=A,B)"
    )
