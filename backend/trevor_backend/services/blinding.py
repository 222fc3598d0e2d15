"""How audit events look to a caller who may not know who the checkers are.

One set of rules for every surface that shows audit events to researchers — the request's
audit log (``GET /api/v1/requests/{rid}/audit``) and live events (``GET /api/v1/events``) —
so the two cannot drift apart (docs/decisions.md, issue 10):

* Admins, the system and checkers of the event's project see events as recorded.
* Everyone else sees checkers only by the pseudonym the reviews API uses: ``checker N`` on a
  review and on the decision that review completed (``N`` is the review's place in its
  revision, recorded in the payload as ``reviewer_number`` when the review is submitted), and
  plain ``checker`` on their other actions (reading content, previews), so that such an action
  cannot be tied to a numbered review. Administrators appear as ``administrator``.
* Review payloads keep only the revision, the number of objects decided and the pseudonym
  number: no review ids, no counts of (private) comments, no content digests. Keys that are
  checker-private by name are removed from every event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..contract import CHECKER_ROLES, Role
from ..orm import AuditEvent, Membership
from ..principal import Principal

#: Payload keys a non-checker may see on review.* events.
PUBLIC_REVIEW_KEYS = ("revision", "objects", "kind", "reviewer_number")
#: Keys that tie an event to particular reviews (and so to the checker behind a pseudonym).
REVIEW_LINK_KEYS = ("review", "reviews")
CHECKER_ROLE_NAMES = frozenset(r.value for r in CHECKER_ROLES)


def is_checker_private(key: str) -> bool:
    return key.startswith("private") or key in ("comments", "content_sha256", "narrative")


def privileged(p: Principal, project_id: str | None) -> bool:
    """Whether ``p`` sees the project's events unblinded."""
    return p.admin or p.is_system or bool(project_id and p.is_checker(project_id))


def payload_for(p: Principal, ev: AuditEvent) -> dict[str, Any]:
    """The payload ``p`` may see of an event they may see."""
    payload = dict(ev.payload or {})
    if privileged(p, ev.project_id):
        return payload
    if ev.type.startswith("review."):
        payload = {k: payload[k] for k in PUBLIC_REVIEW_KEYS if k in payload}
    return {
        k: v for k, v in payload.items() if k not in REVIEW_LINK_KEYS and not is_checker_private(k)
    }


def actor_for(p: Principal, ev: AuditEvent, actor_role: str | None) -> str:
    """Who acted, as ``p`` may know it (``actor_role``: the actor's role on the event's
    project, if any)."""
    if privileged(p, ev.project_id) or ev.actor_id is None or ev.actor_id == p.user_id:
        return ev.actor
    if actor_role == Role.RESEARCHER:
        return ev.actor
    number = (ev.payload or {}).get("reviewer_number")
    # A review by someone no longer a checker of the project is still a checker's review.
    if actor_role in CHECKER_ROLE_NAMES or ev.type.startswith("review.") or number is not None:
        return f"checker {number}" if isinstance(number, int) else "checker"
    return "administrator"


async def actor_roles(
    session: AsyncSession, project_id: str, actor_ids: Iterable[str | None]
) -> dict[str, str]:
    """The current role on ``project_id`` of each actor (absent: no membership)."""
    wanted = {a for a in actor_ids if a}
    if not wanted:
        return {}
    rows = await session.execute(
        select(Membership.user_id, Membership.role).where(
            Membership.project_id == project_id, Membership.user_id.in_(wanted)
        )
    )
    return {uid: role for uid, role in rows.all()}
