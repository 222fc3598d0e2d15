"""Delivery of approved ingress files into researchers' workspaces (SPEC §7).

The researcher's Jupyter server asks ``GET /deliveries`` for approved ingress files it has not
yet delivered, downloads each from the object content endpoint, verifies the sha256, writes the
file into the inbox and acknowledges it (``POST /deliveries/{oid}/ack``, with the sha256 it
verified). The acknowledgement is idempotent, because a delivery may succeed and its
acknowledgement be lost.

When does the request count as RELEASED? When every approved file has been delivered to **at
least one** researcher of the project. Waiting for every researcher would leave requests
APPROVED forever in projects with researchers who never open JupyterLab (or who join later);
the files stay listed for every researcher who has not acknowledged them, RELEASED or not
(docs/ingress.md).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..contract import Direction, ObjectState, RequestStatus
from ..errors import ChecksumMismatch, FieldError, NotFound
from ..orm import AirlockRequest, Delivery, OutputObject, utcnow
from ..principal import Principal, system
from ..schemas import DeliveryAck, DeliveryItem, DeliveryList, DeliveryOut
from . import audit
from .context import Context
from .requests import lock
from .transitions import transition
from .uploads import validate_sha256

DELIVERABLE_STATUSES = (RequestStatus.APPROVED, RequestStatus.RELEASED)


def _deliverable(p: Principal) -> list[ColumnElement[bool]]:
    """Approved files of approved ingress requests in the projects ``p`` researches."""
    projects = [pid for pid in p.roles if p.is_researcher(pid)]
    return [
        AirlockRequest.project_id.in_(projects),
        AirlockRequest.direction == Direction.INGRESS,
        AirlockRequest.status.in_(DELIVERABLE_STATUSES),
        OutputObject.request_id == AirlockRequest.id,
        OutputObject.state == ObjectState.APPROVED,
    ]


class DeliveryService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def pending(self, p: Principal) -> DeliveryList:
        if p.user_id is None:
            return DeliveryList(items=[])
        delivered = (
            select(Delivery.id)
            .where(
                Delivery.object_id == OutputObject.id,
                Delivery.user_id == p.user_id,
                Delivery.delivered_at.is_not(None),
            )
            .exists()
        )
        q = (
            select(OutputObject, AirlockRequest)
            .where(and_(*_deliverable(p)), ~delivered)
            .order_by(AirlockRequest.updated_at, OutputObject.created_at, OutputObject.id)
            .limit(1000)
        )
        async with self.ctx.sessions() as session:
            rows = (await session.execute(q)).unique().all()
        return DeliveryList(
            items=[
                DeliveryItem(
                    request_id=r.id,
                    request_title=r.title,
                    project=r.project_id,
                    object_id=o.id,
                    filename=o.filename,
                    sha256=o.sha256,
                    size=o.size,
                    media_type=o.media_type,
                    content_url=f"/api/v1/requests/{r.id}/objects/{o.id}/content",
                )
                for o, r in rows
            ]
        )

    async def acknowledge(self, p: Principal, oid: str, body: DeliveryAck) -> DeliveryOut:
        sha256 = validate_sha256(body.sha256, "/sha256")
        async with self.ctx.sessions.begin() as session:
            row = (
                await session.execute(
                    select(OutputObject, AirlockRequest).where(
                        OutputObject.id == oid, and_(*_deliverable(p))
                    )
                )
            ).first()
            if row is None or p.user_id is None:
                raise NotFound("no approved ingress file with this id awaits you")
            obj, r = row
            # Lock the request before any change that may move its state.
            locked = await lock(session, r.id)
            assert locked is not None
            r = locked
            if sha256 != obj.sha256:
                raise ChecksumMismatch(
                    "the file you verified is not the approved file",
                    errors=[FieldError("/sha256", f"expected {obj.sha256}, got {sha256}")],
                )
            delivery = await session.scalar(
                select(Delivery).where(Delivery.object_id == oid, Delivery.user_id == p.user_id)
            )
            if delivery is None or delivery.delivered_at is None:
                if delivery is None:
                    delivery = Delivery(request_id=r.id, object_id=oid, user_id=p.user_id)
                    session.add(delivery)
                delivery.target = body.target
                delivery.sha256_verified = True
                delivery.delivered_at = utcnow()
                await session.flush()
                await audit.record(
                    session,
                    "delivery.acknowledged",
                    p,
                    project_id=r.project_id,
                    request_id=r.id,
                    object_id=oid,
                    payload={"sha256": sha256, "target": body.target},
                )
                await self._maybe_released(session, r)
            return DeliveryOut(
                object_id=oid,
                request_id=r.id,
                delivered_at=delivery.delivered_at,
                request_status=RequestStatus(r.status),
            )

    @staticmethod
    async def _maybe_released(session: AsyncSession, r: AirlockRequest) -> None:
        """APPROVED → RELEASED once every approved file reached at least one researcher."""
        if r.status != RequestStatus.APPROVED:
            return
        undelivered = await session.scalar(
            select(OutputObject.id)
            .where(
                OutputObject.request_id == r.id,
                OutputObject.state == ObjectState.APPROVED,
                ~select(Delivery.id)
                .where(Delivery.object_id == OutputObject.id, Delivery.delivered_at.is_not(None))
                .exists(),
            )
            .limit(1)
        )
        if undelivered is None:
            await transition(session, r, "deliver", system("delivery"))
