"""What every request handler of the backend reaches, the API's (``base.BaseHandler``) and the
dashboard's (``dashboard.base.DashboardHandler``) alike: the running backend, its context, the
authenticated caller and the request's correlation id."""

from __future__ import annotations

import uuid
from typing import Any

from tornado import web

from ..principal import Principal, correlation_id
from ..runtime import Backend
from ..services.context import Context

#: nginx's status for a request whose client closed the connection before the answer: what the
#: access log and the metrics record for work cancelled at a disconnect, which no client receives.
CLIENT_CLOSED_REQUEST = 499


class TrevorRequestHandler(web.RequestHandler):
    #: set when the client went away mid-request (``on_connection_close``)
    _client_gone = False

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        # Tornado answers a cancelled handler task with a 500 so the connection is not left
        # hanging; when the task was cancelled because the client left, nobody gets that answer
        # and it is not a server error, so the log and metrics say 499 instead (issue 10).
        if self._client_gone:
            self.clear()
            self.set_status(CLIENT_CLOSED_REQUEST, reason="Client Closed Request")
            if not self._finished:
                self.finish()
            return
        super().send_error(status_code, **kwargs)

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
