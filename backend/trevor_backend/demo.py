"""The demo world: two projects, researchers, checkers and an admin, with fresh tokens."""

from __future__ import annotations

from typing import Any

from .auth import create_token
from .principal import system
from .runtime import Backend
from .services.projects import parse_project_file, sync_projects, user_by_name

DEMO_WORLD: dict[str, Any] = {
    "users": [
        {"username": "alice", "email": "alice@example.org", "display_name": "Alice Researcher"},
        {"username": "bob", "email": "bob@example.org", "display_name": "Bob Researcher"},
        {"username": "carol", "email": "carol@example.org", "display_name": "Carol Checker"},
        {"username": "dave", "email": "dave@example.org", "display_name": "Dave Checker"},
        {"username": "erin", "email": "erin@example.org", "display_name": "Erin Senior Checker"},
        {"username": "root", "email": "root@example.org", "display_name": "TRE Admin"},
    ],
    "admins": ["root"],
    "projects": [
        {
            "id": "p1",
            "name": "Hospital admissions study",
            "description": "Demo project one.",
            "members": [
                {"user": "alice", "role": "researcher"},
                {"user": "carol", "role": "output_checker"},
                {"user": "dave", "role": "output_checker"},
                {"user": "erin", "role": "senior_checker"},
            ],
        },
        {
            "id": "p2",
            "name": "Primary care prescribing",
            "description": "Demo project two.",
            "members": [
                {"user": "bob", "role": "researcher"},
                {"user": "carol", "role": "output_checker"},
                {"user": "erin", "role": "senior_checker"},
            ],
        },
    ],
}


async def create_demo_world(backend: Backend) -> dict[str, str]:
    """Sync the demo world (idempotent) and return a fresh token per demo user."""
    spec = parse_project_file(DEMO_WORLD)
    tokens: dict[str, str] = {}
    async with backend.ctx.sessions.begin() as session:
        await sync_projects(session, system("demo"), spec)
        for u in DEMO_WORLD["users"]:
            user = await user_by_name(session, u["username"])
            assert user is not None
            tokens[user.username] = await create_token(session, user, note="demo")
    return tokens
