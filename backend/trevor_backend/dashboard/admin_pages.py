"""The dashboard's pages that change things: memberships, ingress requests and their upload
links, retrying parked releases. Each form posts to a handler that calls the same service the
API uses (so the same rules and the same audit events, with the acting admin), then shows the
result; a refusal is shown inline on the page it came from."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..contract import Direction, Role
from ..errors import TrevorError
from ..schemas import RequestCreate, UploadSlotIn
from .base import DashboardHandler

MESSAGES = {
    "member-set": "Membership saved.",
    "member-removed": "Membership removed.",
    "link-revoked": "Upload link revoked.",
    "retried": "Release queued again.",
    "opened": "Ingress request opened.",
}


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    assert isinstance(exc, TrevorError)
    fields = "; ".join(f"{e.pointer}: {e.detail}" for e in exc.errors)
    return f"{exc.detail} ({fields})" if fields else exc.detail


class ProjectsPage(DashboardHandler):
    page = "projects"

    async def get(self) -> None:
        await self.render_projects()

    async def render_projects(self, status: int = 200, error: dict[str, str] | None = None) -> None:
        p = self.principal
        ms = self.backend.memberships
        projects = [
            await ms.project(p, pr.id) for pr in (await self.backend.projects.list(p)).items
        ]
        self.show(
            "projects.html",
            status,
            projects=projects,
            users=await ms.users(p),
            roles=list(Role),
            error=error or {},
            done=MESSAGES.get(self.arg("done") or ""),
        )


class MemberSetAction(ProjectsPage):
    async def post(self, pid: str) -> None:
        username, role = self.arg("username") or "", self.arg("role") or ""
        try:
            await self.backend.memberships.set_member(self.principal, pid, username, Role(role))
        except (TrevorError, ValueError) as exc:
            detail = _problem(exc) if isinstance(exc, TrevorError) else f"unknown role {role!r}"
            status = exc.status if isinstance(exc, TrevorError) else 422
            await self.render_projects(status, {"project": pid, "detail": detail})
            return
        self.redirect("/dashboard/projects?done=member-set")


class MemberRemoveAction(ProjectsPage):
    async def post(self, pid: str, username: str) -> None:
        try:
            await self.backend.memberships.remove_member(self.principal, pid, username)
        except TrevorError as exc:
            await self.render_projects(exc.status, {"project": pid, "detail": _problem(exc)})
            return
        self.redirect("/dashboard/projects?done=member-removed")


class IngressPage(DashboardHandler):
    page = "ingress"

    async def get(self) -> None:
        await self.render_ingress()

    async def render_ingress(self, status: int = 200, **extra: Any) -> None:
        p = self.principal
        listing = await self.backend.requests.list(p, direction=Direction.INGRESS, limit=100)
        requests = [(r, await self.backend.ingress_links.list(p, r.id)) for r in listing.items]
        projects = (await self.backend.projects.list(p)).items
        context: dict[str, Any] = {"issued": None, "error": None, "error_rid": None}
        context.update(extra)
        self.show(
            "ingress.html",
            status,
            requests=requests,
            projects=projects,
            done=MESSAGES.get(self.arg("done") or ""),
            **context,
        )


class IngressOpenAction(IngressPage):
    async def post(self) -> None:
        try:
            body = RequestCreate(
                project=self.arg("project") or "",
                direction=Direction.INGRESS,
                title=self.arg("title") or "",
                description=self.arg("description") or "",
            )
            await self.backend.requests.create(self.principal, body)
        except (TrevorError, ValidationError) as exc:
            status = exc.status if isinstance(exc, TrevorError) else 422
            await self.render_ingress(status, error=_problem(exc))
            return
        self.redirect("/dashboard/ingress?done=opened")


class UploadLinkAction(IngressPage):
    async def post(self, rid: str) -> None:
        try:
            body = UploadSlotIn(
                filename=self.arg("filename") or "",
                size=int(self.arg("size") or "-1"),
                sha256=(self.arg("sha256") or "").lower(),
                description=self.arg("description") or "",
            )
            slot = await self.backend.ingress.create_slot(self.principal, rid, body)
        except (TrevorError, ValidationError) as exc:
            status = exc.status if isinstance(exc, TrevorError) else 422
            await self.render_ingress(status, error=_problem(exc), error_rid=rid)
            return
        except ValueError:
            await self.render_ingress(
                422, error="size must be a whole number of bytes", error_rid=rid
            )
            return
        # Shown once, on this answer only: the link is a credential for whoever holds it.
        await self.render_ingress(201, issued=slot, issued_rid=rid)


class UploadLinkRevokeAction(IngressPage):
    async def post(self, rid: str, oid: str) -> None:
        try:
            await self.backend.ingress_links.revoke(self.principal, rid, oid)
        except TrevorError as exc:
            await self.render_ingress(exc.status, error=_problem(exc), error_rid=rid)
            return
        self.redirect("/dashboard/ingress?done=link-revoked")


class RetryReleaseAction(DashboardHandler):
    async def post(self, rid: str) -> None:
        await self.backend.release.retry(self.principal, rid)
        self.redirect("/dashboard/attention?done=retried")
