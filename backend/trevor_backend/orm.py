"""SQLAlchemy ORM models: the database shape of SPEC §4.

API models live in ``schemas.py``; nothing outside services should hand ORM objects to
handlers' serialisers without going through them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .contract import (
    Decision,
    Direction,
    ObjectState,
    RequestStatus,
    ReviewKind,
    Role,
    Visibility,
)


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored_enum(cls: type[StrEnum], length: int) -> Enum:
    """A contract enum stored as its value in a VARCHAR of ``length`` (the column type the
    migrations created: no CHECK constraint, no native enum type, so no data migration);
    rows read back as members of ``cls``."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite stores naive values; without this, comparisons between loaded and fresh
    timestamps would raise or silently compare wall-clock values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Deterministic constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class APIToken(Base):
    """An API token, stored only as its SHA-256: the secret is shown once at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    # Per-project overrides of the SDC parameters (names as in SPEC §9).
    sdc_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="project", cascade="all, delete-orphan"
    )


class Membership(Base):
    __tablename__ = "memberships"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(stored_enum(Role, 32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class AirlockRequest(Base):
    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_project_status", "project_id", "status"),
        Index("ix_requests_created", "created_at", "id"),
        # Keyset pages of one project's requests and of the review queue (migration 0005).
        Index("ix_requests_project_created", "project_id", "created_at", "id"),
        Index("ix_requests_status_submitted", "status", "submitted_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    direction: Mapped[Direction] = mapped_column(
        stored_enum(Direction, 16), default=Direction.EGRESS
    )
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RequestStatus] = mapped_column(
        stored_enum(RequestStatus, 32), default=RequestStatus.DRAFT, index=True
    )
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # Background work is claimed with a lease (SPEC §3 "state is the queue").
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When admins were last told the request is waiting past the SLA; an alert is due again
    # only after the request has moved (updated_at later than this).
    stuck_alerted_at: Mapped[datetime | None] = mapped_column()
    # Milestones for the metrics summary, set by services/transitions.py in the transaction
    # that writes the matching audit event (with that event's time), so the summary is a few
    # aggregates instead of a scan of the audit log (migration 0006 backfilled them).
    first_submitted_at: Mapped[datetime | None] = mapped_column()
    first_reviewed_at: Mapped[datetime | None] = mapped_column()
    first_decided_at: Mapped[datetime | None] = mapped_column()
    released_at: Mapped[datetime | None] = mapped_column()

    project: Mapped[Project] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[created_by])
    objects: Mapped[list[OutputObject]] = relationship(
        back_populates="request", order_by="OutputObject.created_at"
    )


class RequestRound(Base):
    """One revision of a request as the metrics see it: the agent's recommendation and the
    human decision, both kept by services/transitions.py (migration 0006 backfilled them)."""

    __tablename__ = "request_rounds"

    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent_recommendation: Mapped[str | None] = mapped_column(String(16))
    #: approved | changes_requested | rejected
    decision: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column()


class OutputObject(Base):
    """One immutable file version; a replacement is a new row with the same logical_id."""

    __tablename__ = "objects"
    __table_args__ = (UniqueConstraint("logical_id", "version", name="uq_objects_logical_version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    logical_id: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("objects.id"))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1024))
    state: Mapped[ObjectState] = mapped_column(
        stored_enum(ObjectState, 32), default=ObjectState.PENDING
    )
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[AirlockRequest] = relationship(back_populates="objects")
    meta: Mapped[ObjectMetadata] = relationship(
        primaryjoin="foreign(OutputObject.logical_id) == ObjectMetadata.logical_id",
        viewonly=True,
        lazy="joined",
    )


class ObjectMetadata(Base):
    """The researcher's description of a logical object, carried across its versions."""

    __tablename__ = "object_metadata"

    logical_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    statbarn: Mapped[str | None] = mapped_column(String(64))
    justification: Mapped[str] = mapped_column(Text, default="")
    suppression_notes: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        # One review per reviewer per revision; the agent's reviewer_id is NULL, which
        # unique constraints ignore, so the agent's uniqueness is guarded by agent_key.
        UniqueConstraint("request_id", "revision", "reviewer_id", name="uq_reviews_reviewer"),
        UniqueConstraint("agent_key", name="uq_reviews_agent_key"),
        # The metrics' per-checker load is read from this index alone (migration 0006).
        Index("ix_reviews_reviewer_first", "reviewer_id", "first_by_reviewer"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    reviewer_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    agent_key: Mapped[str | None] = mapped_column(String(80))
    kind: Mapped[ReviewKind] = mapped_column(stored_enum(ReviewKind, 16))
    decision: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the reviewer's first review of this request (any revision), so the metrics count the
    #: requests each checker reviewed with a plain count (services/transitions.py keeps it)
    first_by_reviewer: Mapped[bool | None] = mapped_column(Boolean)

    reviewer: Mapped[User | None] = relationship()
    decisions: Mapped[list[ObjectDecision]] = relationship(
        back_populates="review", cascade="all, delete-orphan"
    )


class ObjectDecision(Base):
    __tablename__ = "object_decisions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    object_id: Mapped[str] = mapped_column(ForeignKey("objects.id"), index=True)
    decision: Mapped[Decision] = mapped_column(stored_enum(Decision, 32))
    comment: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[Visibility] = mapped_column(
        stored_enum(Visibility, 16), default=Visibility.PUBLIC
    )

    review: Mapped[Review] = relationship(back_populates="decisions")


class AuditEvent(Base):
    """Append-only, hash-chained log. ``seq`` is assigned as previous + 1 so that two writers
    racing for the same predecessor collide on the primary key instead of forking the chain."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_request", "request_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    type: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(128), index=True)
    request_id: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: HMAC-SHA256 of ``hash`` under the audit key ``key_id`` (held outside the database), so
    #: a tail rewritten by someone with only database access fails ``audit verify``.
    key_id: Mapped[str | None] = mapped_column(String(32))
    mac: Mapped[str | None] = mapped_column(String(64))


class ReleaseRecord(Base):
    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), unique=True)
    crate_key: Mapped[str] = mapped_column(String(1024))
    crate_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    url_expires_at: Mapped[datetime | None] = mapped_column()
    expiry_warned_at: Mapped[datetime | None] = mapped_column()
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("object_id", "user_id", name="uq_deliveries_object_user"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    object_id: Mapped[str] = mapped_column(ForeignKey("objects.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    target: Mapped[str | None] = mapped_column(String(1024))
    sha256_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    delivered_at: Mapped[datetime | None] = mapped_column()


class IngressUpload(Base):
    """An upload slot handed to an outside party (pre-signed or HMAC-signed PUT URL).

    The bytes become an :class:`OutputObject` (with this row's id) only at finalize, after
    their size and sha256 have been re-read from the store and match what was announced.
    """

    __tablename__ = "ingress_uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1024))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    finalized_at: Mapped[datetime | None] = mapped_column()


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()
    # Set once the reconciler has queued this notification on every channel's outbox.
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)


class OutboxMessage(Base):
    """A notification waiting to go out on one channel (email, webhook)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "sent_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    notification_id: Mapped[str | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(1024))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateBucket(Base):
    """A token bucket of the shared rate limiter (ratelimit.py): a caller's, or a caller's on
    one route, as ``key`` says."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    tokens: Mapped[float] = mapped_column()
    # Seconds since the epoch on the database's clock when ``tokens`` was last computed.
    stamp: Mapped[float] = mapped_column()
