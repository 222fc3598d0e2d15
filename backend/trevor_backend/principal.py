"""Who is acting: an authenticated user with their project roles, or the system itself."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from .contract import CHECKER_ROLES, Role

# Set per HTTP request so audit events and log lines share one correlation id.
correlation_id: ContextVar[str | None] = ContextVar("trevor_correlation_id", default=None)


@dataclass(frozen=True)
class Principal:
    user_id: str | None
    name: str
    admin: bool = False
    roles: dict[str, Role] = field(default_factory=dict)
    #: how the caller proved who they are ("token", "oidc", "oidc-session", "jupyterhub"):
    #: recorded with each audit event, so an admin can see who logged in how
    auth_method: str | None = None

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def role_in(self, project_id: str) -> Role | None:
        return self.roles.get(project_id)

    def is_researcher(self, project_id: str) -> bool:
        return self.roles.get(project_id) == Role.RESEARCHER

    def is_checker(self, project_id: str) -> bool:
        return self.roles.get(project_id) in CHECKER_ROLES

    def is_senior_checker(self, project_id: str) -> bool:
        return self.roles.get(project_id) == Role.SENIOR_CHECKER


def system(name: str = "trevor") -> Principal:
    """The backend acting on its own (reconciler, agent review, release)."""
    return Principal(user_id=None, name=name)
