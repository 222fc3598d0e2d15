"""Users, projects, memberships and statbarns."""

from __future__ import annotations

from datetime import datetime
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


class MemberOut(Model):
    username: str
    display_name: str | None
    role: Role
    since: datetime


class ProjectDetail(Model):
    id: str
    name: str
    description: str
    sdc_params: dict[str, Any]
    members: list[MemberOut]


class MemberIn(Model):
    role: Role


class MemberSet(Model):
    project: str
    username: str
    role: Role
    created: bool
