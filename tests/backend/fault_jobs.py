"""Jobs with injected faults, for the tests that kill backend processes. They live here, not in
the backend: production code has no fault hooks. A test names one in ``reconciler_jobs``."""

from __future__ import annotations

import logging
import os

from trevor_backend.jobs import JobContext
from trevor_backend.services.agent import AgentReviewJob


class AgentReviewDyingAfterClaim(AgentReviewJob):
    """The agent review whose process dies like a SIGKILLed one (exit status 137) right after
    its claim committed, before any of the work."""

    async def work(self, ctx: JobContext, ids: list[str]) -> int:
        ctx.log.error("fault injection: exiting with 137 after claiming %s", ids)
        logging.shutdown()
        os._exit(137)
