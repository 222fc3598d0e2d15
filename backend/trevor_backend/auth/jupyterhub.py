"""JupyterHub users: the token a single-user server already holds names its hub user.

Under JupyterHub every single-user server has ``JUPYTERHUB_API_TOKEN``; the trevor server
extension sends it as its bearer token when no trevor token is configured. The backend asks the
hub who owns it (``GET /hub/api/user`` with that token) through JupyterHub's own
:class:`~jupyterhub.services.auth.HubAuth`, which caches the answer for ``cache_max_age``.
The hub answers that question for any of a user's tokens (it is the "identify" permission every
token has), so the backend needs no hub scopes of its own for this. Hub groups map to the admin
flag and project roles exactly as OIDC groups do (``shadow.py``); ``trv_`` API tokens keep working.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from tornado.web import HTTPError
from traitlets import Float, Unicode, default

from ..errors import Unavailable
from ..principal import Principal
from .base import bearer_token
from .shadow import Identity, ShadowUserAuthenticator, invalid_token
from .tokens import TOKEN_PREFIX

if TYPE_CHECKING:
    from jupyterhub.services.auth import HubAuth
    from tornado.httputil import HTTPServerRequest


class JupyterHubAuthenticator(ShadowUserAuthenticator):
    """Callers named by the hub for the token they send; API tokens still work."""

    auth_method = "jupyterhub"

    hub_api_url = Unicode(
        config=True,
        help="The hub's API URL as the backend reaches it, e.g. http://hub:8081/hub/api "
        "(env JUPYTERHUB_API_URL, which a hub-managed service is given).",
    )
    hub_api_token = Unicode(
        config=True,
        help="The backend's own hub service token (env JUPYTERHUB_API_TOKEN); not needed to "
        "identify users, kept for HubAuth and for hub OAuth login.",
    )
    cache_max_age = Float(
        300.0,
        config=True,
        help="Seconds the hub's answer for a token is reused (HubAuth's cache); a token "
        "revoked in the hub may work for this long.",
    )

    @default("hub_api_url")
    def _hub_api_url_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "")

    @default("hub_api_token")
    def _hub_api_token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.hub_api_url:
            raise ValueError("JupyterHubAuthenticator needs hub_api_url (JUPYTERHUB_API_URL)")
        self._hub_auth: HubAuth | None = None

    @property
    def hub_auth(self) -> HubAuth:
        if self._hub_auth is None:
            # Imported here: jupyterhub is an optional dependency (extra `jupyterhub`).
            from jupyterhub.services.auth import HubAuth

            self._hub_auth = HubAuth(
                api_url=self.hub_api_url,
                api_token=self.hub_api_token or "unused",
                cache_max_age=int(self.cache_max_age),
            )
        return self._hub_auth

    async def hub_user(self, token: str) -> dict[str, Any]:
        """The hub's user model for ``token`` (name, groups), or :class:`Unauthorized`."""
        try:
            model = await self.hub_auth.user_for_token(token, sync=False)
        except HTTPError as exc:
            raise Unavailable(f"the hub could not identify the caller: {exc.log_message}") from exc
        if not model:
            raise invalid_token("the hub does not recognise this token")
        if model.get("kind", "user") != "user":
            raise invalid_token("hub services have no airlock identity; use a user's token")
        return dict(model)

    async def authenticate(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> Principal | None:
        secret = bearer_token(request) or _hub_token_header(request)
        if secret is None:
            return None
        if secret.startswith(TOKEN_PREFIX):
            return await self.token_principal(request, session)
        model = await self.hub_user(secret)
        groups = model.get("groups") or []
        identity = Identity(
            username=str(model["name"]),
            method="jupyterhub",
            groups=tuple(g for g in groups if isinstance(g, str)),
            details={"hub": self.hub_api_url},
        )
        return await self.shadow_principal(session, identity)


def _hub_token_header(request: HTTPServerRequest) -> str | None:
    # JupyterHub's own clients say "Authorization: token <t>"; accept that spelling too.
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "token" else None
