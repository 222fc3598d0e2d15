"""``GET /dashboard/events``: the live event stream of ``/api/v1/events`` for a dashboard
session (the browser's EventSource cannot send a bearer token; it sends the cookie)."""

from __future__ import annotations

from ..errors import Forbidden
from ..handlers.events import EventsHandler
from ..principal import Principal
from . import session


class DashboardEventsHandler(EventsHandler):
    async def _session_principal(self) -> Principal | None:
        s = session.decode(self.ctx.settings.secret_key, self.get_cookie(session.COOKIE))
        p = await session.principal_of(self.ctx, s) if s else None
        browser = getattr(self.backend.authenticator, "browser_principal", None)
        if p is None and browser is not None:  # an OIDC browser session (auth/oidc_login.py)
            p = await browser(self)
        return p if p is not None and p.admin else None

    async def prepare(self) -> None:
        self.current_user = await self._session_principal()
        if self.current_user is None:
            raise Forbidden("sign in to the dashboard as an admin")

    async def _reauthenticate(self) -> Principal | None:
        return await self._session_principal()
