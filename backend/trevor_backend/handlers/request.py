"""What every request handler of the backend reaches, the API's (``base.BaseHandler``) and the
dashboard's (``dashboard.base.DashboardHandler``) alike: the running backend, its context, the
authenticated caller and the request's correlation id."""

from __future__ import annotations

import uuid

from tornado import web

from ..principal import Principal, correlation_id
from ..runtime import Backend
from ..services.context import Context


class TrevorRequestHandler(web.RequestHandler):
    @property
    def backend(self) -> Backend:
        # web.make_app puts the running backend into the application settings.
        backend: Backend = self.settings["trevor"]
        return backend

    @property
    def ctx(self) -> Context:
        return self.backend.ctx

    @property
    def principal(self) -> Principal:
        assert isinstance(self.current_user, Principal)
        return self.current_user

    def correlate(self) -> str:
        """The request's id (the caller's ``X-Request-ID`` or a new one) for logs and audit."""
        cid = (self.request.headers.get("X-Request-ID") or uuid.uuid4().hex)[:64]
        correlation_id.set(cid)
        return cid
