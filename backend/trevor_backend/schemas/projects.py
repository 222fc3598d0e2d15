"""Users, projects, memberships and statbarns."""

from __future__ import annotations

from typing import Any

from ..contract import Role
from .base import Model


class MembershipOut(Model):
    project: str
    role: Role


class UserMe(Model):
    username: str
    display_name: str | None
    email: str | None
    admin: bool
    memberships: list[MembershipOut]


class ProjectOut(Model):
    id: str
    name: str
    description: str
    my_role: Role | None


class ProjectList(Model):
    items: list[ProjectOut]


class StatbarnList(Model):
    items: list[dict[str, Any]]
