"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from ..schemas import Health, Ready
from .base import BaseHandler
from .spec import operation


class HealthHandler(BaseHandler):
    public = True

    @operation("Liveness", tags="service", responses={200: Health}, public=True)
    async def get(self) -> None:
        self.write_json(Health(status="ok"))


class ReadyHandler(BaseHandler):
    public = True

    @operation(
        "Readiness: database and object store reachable",
        tags="service",
        responses={200: Ready, 503: Ready},
        public=True,
    )
    async def get(self) -> None:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(5):
                async with self.ctx.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure, it does not raise
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            async with asyncio.timeout(5):
                await self.ctx.store.ping()
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        self.write_json(
            Ready(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503
        )
