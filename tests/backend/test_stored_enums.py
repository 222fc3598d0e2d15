"""The contract's enums are stored by value in the VARCHAR columns the migrations made (what
rows written before they were Enum columns hold) and read back as members."""

from __future__ import annotations

from sqlalchemy import select, text

from trevor_backend import db
from trevor_backend.contract import Direction, RequestStatus, Role
from trevor_backend.orm import AirlockRequest, Membership, Project, User


async def test_enums_are_stored_by_value_and_read_as_members(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        await db.upgrade(engine)
        sessions = db.session_factory(engine)
        async with sessions.begin() as session:
            user = User(username="alice")
            session.add_all([Project(id="p1", name="P1"), user])
            await session.flush()
            session.add(Membership(project_id="p1", user_id=user.id, role=Role.OUTPUT_CHECKER))
            session.add(
                AirlockRequest(id="r1", project_id="p1", created_by=user.id, title="t", revision=1)
            )
        async with engine.connect() as conn:
            raw = (
                await conn.execute(text("SELECT status, direction FROM requests WHERE id = 'r1'"))
            ).one()
            role = (await conn.execute(text("SELECT role FROM memberships"))).scalar_one()
        # Values, not member names: 'egress' and 'output_checker', as the string columns held.
        assert tuple(raw) == ("DRAFT", "egress")
        assert role == "output_checker"

        # A row written as plain strings (as before the Enum columns) reads back as members.
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE requests SET status = 'HUMAN_REVIEW', direction = 'ingress'")
            )
        async with sessions() as session:
            r = (await session.scalars(select(AirlockRequest))).one()
            assert r.status is RequestStatus.HUMAN_REVIEW
            assert r.direction is Direction.INGRESS
            m = (await session.scalars(select(Membership))).one()
            assert m.role is Role.OUTPUT_CHECKER
    finally:
        await engine.dispose()
