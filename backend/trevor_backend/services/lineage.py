"""Lineage of a logical object: every version, its agent verdict and its reviews, and a
cell-level diff between versions of a CSV/TSV table (SPEC §4 "Revision cycle").

Diffs: by default between each pair of consecutive versions; ``?diff=A,B`` asks for one pair
instead (any two versions of the same logical object, earlier first or not). Rows are matched by
the first column when its values are unique in both versions (pandas writes the index there),
otherwise by position; columns are matched by header. Values are compared as the text in the
file, so ``1`` and ``1.0`` differ. Tables over ``preview_max_bytes`` are not diffed.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from typing import Any, Literal

import pandas as pd
from sqlalchemy import select

from ..contract import ReviewKind
from ..errors import FieldError, NotFound, ValidationFailed
from ..orm import AirlockRequest, OutputObject, Review
from ..principal import Principal
from ..schemas import CellChange, LineageOut, LineageVersion, ObjectReviewOut, TableDiff
from ..serialize import object_out
from . import access, audit
from .agent import tabular_separator
from .context import Context
from .reviews import blinding_for, human_reviews, usernames

MAX_CHANGES = 1000


def _read_text_table(data: bytes, sep: str) -> pd.DataFrame:
    # Everything as text, nothing as NaN: the diff is of what the file says.
    return pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False)


def _label(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x


def table_diff(
    older: str, old_data: bytes, old_name: str, newer: str, new_data: bytes, new_name: str
) -> TableDiff:
    """Cells, rows and columns that differ between two versions of a text table."""
    sep_old, sep_new = tabular_separator(old_name), tabular_separator(new_name)
    if sep_old is None or sep_new is None:
        return TableDiff(older=older, newer=newer, comparable=False, note="not a CSV/TSV table")
    try:
        a, b = _read_text_table(old_data, sep_old), _read_text_table(new_data, sep_new)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        return TableDiff(
            older=older, newer=newer, comparable=False, note=f"could not read a table: {exc}"
        )
    key: Literal["first_column", "position"] = "position"
    if len(a.columns) and len(b.columns) and a.columns[0] == b.columns[0]:
        first = a.columns[0]
        if a[first].is_unique and b[first].is_unique:
            key = "first_column"
            a, b = a.set_index(first), b.set_index(first)
    cols_a, cols_b = list(a.columns), list(b.columns)
    rows_a, rows_b = set(a.index), set(b.index)
    changes: list[CellChange] = []
    truncated = False
    common_cols = [c for c in cols_b if c in set(cols_a)]
    for row in b.index:
        if row not in rows_a:
            continue
        for col in common_cols:
            old, new = a.at[row, col], b.at[row, col]
            if old != new:
                if len(changes) >= MAX_CHANGES:
                    truncated = True
                    break
                changes.append(CellChange(row=_label(row), column=col, old=str(old), new=str(new)))
        if truncated:
            break
    return TableDiff(
        older=older,
        newer=newer,
        comparable=True,
        key=key,
        rows_added=[_label(x) for x in b.index if x not in rows_a],
        rows_removed=[_label(x) for x in a.index if x not in rows_b],
        columns_added=[c for c in cols_b if c not in set(cols_a)],
        columns_removed=[c for c in cols_a if c not in set(cols_b)],
        cells_changed=changes,
        truncated=truncated,
    )


def parse_diff_query(raw: str | None) -> tuple[str, str] | None:
    if raw is None:
        return None
    parts = [x.strip() for x in raw.split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise ValidationFailed(
            "diff names two versions", errors=[FieldError("/diff", "two object ids: A,B")]
        )
    return parts[0], parts[1]


class LineageService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def lineage(
        self, p: Principal, rid: str, oid: str, diff: tuple[str, str] | None = None
    ) -> LineageOut:
        async with self.ctx.sessions() as session:
            r = access.require_view(p, await session.get(AirlockRequest, rid))
            obj = await session.get(OutputObject, oid)
            if obj is None or obj.request_id != r.id:
                raise NotFound("object not found")
            versions = list(
                (
                    await session.scalars(
                        select(OutputObject)
                        .where(OutputObject.logical_id == obj.logical_id)
                        .order_by(OutputObject.version)
                    )
                ).unique()
            )
            ids = {v.id for v in versions}
            agent: dict[str, dict[str, Any]] = {}
            for review in await session.scalars(
                select(Review)
                .where(Review.request_id == rid, Review.kind == ReviewKind.AGENT)
                .order_by(Review.revision)
            ):
                for vid, res in ((review.report or {}).get("objects") or {}).items():
                    if vid in ids:
                        agent[vid] = {
                            "revision": review.revision,
                            "status": res.get("status"),
                            "summary": res.get("summary"),
                        }
            b = await blinding_for(session, p, r)
            reviews = await human_reviews(session, rid)
            names = await usernames(session, [rv.reviewer_id for rv in reviews])

        per_object: dict[str, list[ObjectReviewOut]] = {v.id: [] for v in versions}
        number: dict[int, int] = {}
        for rv in reviews:
            number[rv.revision] = number.get(rv.revision, 0) + 1
            if not b.sees(rv):
                continue
            for d in rv.decisions:
                if d.object_id in per_object:
                    per_object[d.object_id].append(
                        ObjectReviewOut(
                            revision=rv.revision,
                            reviewer=b.reviewer_label(rv, names, number[rv.revision]),
                            decision=d.decision,
                            comment=b.comment(d),
                            visibility=d.visibility,
                        )
                    )

        by_id = {v.id: v for v in versions}
        if diff is not None:
            unknown = [x for x in diff if x not in by_id]
            if unknown:
                raise ValidationFailed(
                    "diff names an object that is not a version of this one",
                    errors=[FieldError("/diff", f"not a version: {', '.join(unknown)}")],
                )
            first, second = sorted((by_id[diff[0]], by_id[diff[1]]), key=lambda v: v.version)
            pairs = [(first, second)]
        else:
            pairs = list(itertools.pairwise(versions))
        diffs = [await self._diff(older, newer) for older, newer in pairs]
        if diffs and any(d.comparable for d in diffs):
            # A diff shows cell values, so it is a view of the objects' contents.
            async with self.ctx.sessions.begin() as session:
                await audit.record(
                    session,
                    "object.viewed",
                    p,
                    project_id=r.project_id,
                    request_id=r.id,
                    object_id=oid,
                    payload={"as": "diff", "versions": [[o.id, n.id] for o, n in pairs]},
                )
        return LineageOut(
            logical_id=obj.logical_id,
            versions=[
                LineageVersion(
                    object=object_out(v, (agent.get(v.id) or {}).get("status")),
                    agent=agent.get(v.id),
                    reviews=per_object[v.id],
                )
                for v in versions
            ],
            diffs=diffs,
        )

    async def _diff(self, older: OutputObject, newer: OutputObject) -> TableDiff:
        if tabular_separator(older.filename) is None or tabular_separator(newer.filename) is None:
            return TableDiff(
                older=older.id, newer=newer.id, comparable=False, note="not a CSV/TSV table"
            )
        cap = self.ctx.settings.preview_max_bytes
        if older.size > cap or newer.size > cap:
            return TableDiff(
                older=older.id,
                newer=newer.id,
                comparable=False,
                note=f"a version is larger than {cap} bytes: not compared",
            )
        old_data = await self.ctx.store.read_bytes(older.storage_key)
        new_data = await self.ctx.store.read_bytes(newer.storage_key)
        return await asyncio.to_thread(
            table_diff, older.id, old_data, older.filename, newer.id, new_data, newer.filename
        )
