"""Background jobs: one framework for work derived from state and claimed with leases
(SPEC §3 "state is the queue").

It sits below the services and imports none of them: a job lives with its service (the agent
review in ``services/agent.py``, release packaging in ``services/release_job.py``, …) and is
listed in ``TrevorBackend.reconciler_jobs``. A job declares what is due and the work:

* :class:`Job` — ``run_once(ctx) -> int`` (items done), for work that needs no lease;
* :class:`LeasedJob` — ``model``, ``due(ctx)``, ``order_by()``, ``work(ctx, ids)``; the pass
  claims due rows with :func:`claim` and hands the claimed ids to ``work``.

Long work keeps its claim with :class:`LeaseKeeper` (or :func:`renew`) and hands a row back
after a failure with :func:`give_back`. ``ctx`` is a :class:`JobContext`.
"""

from .base import Job, LeasedJob
from .context import JobContext, owner_name
from .lease import (
    LeaseKeeper,
    LeaseLost,
    claim,
    give_back,
    lease_free,
    renew,
    skip_locked,
)
from .runner import JobClass, JobConfigError, Reconciler, build_jobs

__all__ = [
    "Job",
    "JobClass",
    "JobConfigError",
    "JobContext",
    "LeaseKeeper",
    "LeaseLost",
    "LeasedJob",
    "Reconciler",
    "build_jobs",
    "claim",
    "give_back",
    "lease_free",
    "owner_name",
    "renew",
    "skip_locked",
]
