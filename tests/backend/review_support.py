"""Helpers for the review-workflow tests: tables with real SDC evidence, the agent run by hand."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.jobs import Reconciler
from trevor_backend.orm import AuditEvent, Review
from trevor_backend.sdc.tabulate import table_evidence
from trevor_backend.services.agent import AgentReviewJob


def crosstab(cells: dict[tuple[str, str], int]) -> tuple[bytes, dict[str, Any]]:
    """A frequency table of region x sex with the given cell counts: its CSV bytes and the
    evidence the kernel would attach (computed from records, bound to the bytes' sha256)."""
    regions, sexes = [], []
    for (region, sex), n in cells.items():
        regions += [region] * n
        sexes += [sex] * n
    df = pd.DataFrame({"region": regions, "sex": sexes})
    table = pd.crosstab(df.region, df.sex)
    data = table.to_csv().encode()
    evidence = table_evidence(
        table, [df.region], [df.sex], statistic="count", statbarn="Frequencies"
    ).to_json()
    evidence["sha256"] = hashlib.sha256(data).hexdigest()
    return data, evidence


FAILING = {("north", "f"): 15, ("north", "m"): 15, ("south", "f"): 3, ("south", "m"): 20}
PASSING = {("north", "f"): 15, ("north", "m"): 15, ("south", "f"): 12, ("south", "m"): 20}


async def add_table(
    client: Client,
    rid: str,
    cells: dict[tuple[str, str], int],
    filename: str = "table.csv",
    *,
    title: str = "Table",
    replaces: str | None = None,
) -> dict[str, Any]:
    """Upload a table, describe it (unless it replaces a described one) and attach evidence."""
    data, evidence = crosstab(cells)
    extra = {"replaces": replaces} if replaces else {}
    up = await client.upload(rid, data, filename, **extra)
    assert up.status == 201, up.body
    oid = up.json["id"]
    if replaces is None:
        meta = await client.put(
            f"/api/v1/requests/{rid}/objects/{oid}/metadata",
            {"title": title, "statbarn": "Frequencies", "justification": "for the paper"},
        )
        assert meta.status == 200, meta.body
    ev = await client.post(f"/api/v1/requests/{rid}/objects/{oid}/evidence", {"evidence": evidence})
    assert ev.status == 200, ev.body
    return ev.json


def agent_only(live: LiveBackend, **kw: Any) -> Reconciler:
    """A reconciler running just the agent review, over the live backend's database."""
    return Reconciler(live.backend.ctx, [AgentReviewJob(parent=live.app)], app=live.app, **kw)


async def run_agent(live: LiveBackend) -> int:
    return await agent_only(live).run_until_idle()


def approve_all(objects: list[dict[str, Any]], summary: str = "fine") -> dict[str, Any]:
    return {
        "decision": "approve",
        "summary": summary,
        "objects": [{"object_id": o["id"], "decision": "approve"} for o in objects],
    }


async def current(client: Client, rid: str) -> dict[str, Any]:
    reply = await client.get(f"/api/v1/requests/{rid}")
    assert reply.status == 200, reply.body
    return reply.json


async def agent_reviews(live: LiveBackend, rid: str | None = None) -> dict[str, int]:
    """Agent review rows per request."""
    async with live.backend.ctx.sessions() as s:
        q = select(Review.request_id, func.count()).where(Review.kind == "agent")
        if rid:
            q = q.where(Review.request_id == rid)
        rows = await s.execute(q.group_by(Review.request_id))
        return {rid_: int(n) for rid_, n in rows.all()}


async def audit_types(live: LiveBackend, rid: str) -> list[str]:
    async with live.backend.ctx.sessions() as s:
        return list(
            await s.scalars(
                select(AuditEvent.type).where(AuditEvent.request_id == rid).order_by(AuditEvent.seq)
            )
        )
