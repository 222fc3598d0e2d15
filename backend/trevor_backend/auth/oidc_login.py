"""Browser login with OpenID Connect for the dashboard: ``/login``, ``/oauth/callback``,
``/logout`` (SPEC §9), added to the app by ``OIDCAuthenticator.login_handlers()``.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``; endpoints from the issuer's
discovery document. The flow's secrets wait in a short-lived signed HttpOnly cookie; the ID token
is checked by the same code as bearer tokens (signature against the JWKS, ``iss``, ``aud`` = our
client id, ``exp``) plus its ``nonce``. The session is a signed HttpOnly SameSite=Lax cookie
(``Secure`` over HTTPS) naming the user; Lax, because the provider sends the browser back to the
callback from another site. Sessions are accepted by the dashboard only, never by the API, so
the API's bearer-only design keeps it free of CSRF. Logout ends the session and, when the
provider publishes an ``end_session_endpoint``, logs out there too (RP-initiated logout).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
import json
import secrets
import time
from typing import Any, Protocol
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ..errors import TrevorError, Unauthorized
from ..orm import User
from ..principal import Principal
from ..services import audit
from .base import principal_for
from .shadow import Identity

SESSION_COOKIE = "trevor_session"
FLOW_COOKIE = "trevor_oidc_flow"
ID_TOKEN_COOKIE = "trevor_oidc_id"
FLOW_SECONDS = 600


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636 §4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def safe_next(target: str | None) -> str:
    # Only a path on this site: never an open redirect to another one.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/dashboard/"
    return target


class OIDCLogin(Protocol):
    """What the pages need of the authenticator (``oidc.OIDCAuthenticator``, which adds these
    pages to the app, so this module does not import it back)."""

    @property
    def issuer(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def scopes(self) -> list[str]: ...
    @property
    def redirect_url(self) -> str: ...
    @property
    def post_logout_redirect_url(self) -> str: ...
    @property
    def session_seconds(self) -> float: ...
    @property
    def http_timeout(self) -> float: ...
    @property
    def http(self) -> AsyncHTTPClient: ...
    async def metadata(self) -> dict[str, Any]: ...
    async def verify(self, token: str, *, audience: list[str] | None = None) -> dict[str, Any]: ...
    def identity_from_claims(self, claims: dict[str, Any], method: str) -> Identity: ...
    async def shadow_principal(self, session: AsyncSession, identity: Identity) -> Principal: ...


class OIDCPage(web.RequestHandler):
    """Base of the three pages: the authenticator, the secret key, cookies, errors."""

    @property
    def backend(self) -> Any:
        return self.settings["trevor"]

    @property
    def auth(self) -> OIDCLogin:
        return self.backend.authenticator  # type: ignore[no-any-return]

    @property
    def secret(self) -> bytes:
        return self.backend.ctx.settings.secret_key  # type: ignore[no-any-return]

    @property
    def secure(self) -> bool:
        public = self.backend.ctx.settings.public_url
        return self.request.protocol == "https" or public.startswith("https:")

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    def put_cookie(self, name: str, value: str, seconds: float) -> None:
        self.set_cookie(
            name,
            web.create_signed_value(self.secret, name, value).decode(),
            expires_days=seconds / 86400,
            path="/",
            httponly=True,
            secure=self.secure,
            samesite="Lax",
        )

    def read_cookie(self, name: str, max_age_seconds: float) -> bytes | None:
        """A cookie we signed, if intact and younger than ``max_age_seconds``."""
        return web.decode_signed_value(
            self.secret, name, self.get_cookie(name), max_age_days=max_age_seconds / 86400
        )

    def redirect_url(self) -> str:
        return self.auth.redirect_url or (
            self.backend.ctx.settings.public_url.rstrip("/") + "/oauth/callback"
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        detail = exc.detail if isinstance(exc, TrevorError) else "sign-in failed"
        if isinstance(exc, TrevorError):
            status_code = exc.status
        self.set_status(status_code)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(f"Sign-in failed: {detail}\nStart again at /login.\n")


class LoginHandler(OIDCPage):
    async def get(self) -> None:
        meta = await self.auth.metadata()
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        flow = {
            "s": state,
            "n": nonce,
            "v": verifier,
            "next": safe_next(self.get_argument("next", None)),
        }
        self.put_cookie(FLOW_COOKIE, json.dumps(flow), FLOW_SECONDS)
        query = {
            "response_type": "code",
            "client_id": self.auth.client_id,
            "redirect_uri": self.redirect_url(),
            "scope": " ".join(self.auth.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        self.redirect(f"{meta['authorization_endpoint']}?{urlencode(query)}")


class CallbackHandler(OIDCPage):
    async def get(self) -> None:
        raw = self.read_cookie(FLOW_COOKIE, FLOW_SECONDS)
        self.clear_cookie(FLOW_COOKIE, path="/")
        if raw is None:
            raise Unauthorized("the sign-in took too long or did not start here")
        flow = json.loads(raw)
        if not hmac.compare_digest(flow["s"], self.get_argument("state", "")):
            raise Unauthorized("the provider's answer does not belong to this sign-in (state)")
        if error := self.get_argument("error", None):
            raise Unauthorized(f"the identity provider refused: {error}")
        tokens = await self._exchange(self.get_argument("code", ""), flow["v"])
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise Unauthorized("the identity provider sent no ID token")
        claims = await self.auth.verify(id_token, audience=[self.auth.client_id])
        if not hmac.compare_digest(str(claims.get("nonce", "")), flow["n"]):
            raise Unauthorized("the ID token was not issued for this sign-in (nonce)")
        identity = self.auth.identity_from_claims(claims, "oidc")
        async with self.backend.ctx.sessions() as session:
            principal = await self.auth.shadow_principal(session, identity)
        async with self.backend.ctx.sessions.begin() as session:
            await audit.record(
                session,
                "user.login",
                principal,
                payload={"issuer": self.auth.issuer, "subject": claims.get("sub")},
            )
        issued = time.time()
        self.put_cookie(
            SESSION_COOKIE,
            json.dumps({"u": principal.user_id, "i": issued}),
            self.auth.session_seconds,
        )
        self.put_cookie(ID_TOKEN_COOKIE, id_token, self.auth.session_seconds)
        self.redirect(safe_next(flow.get("next")))

    async def _exchange(self, code: str, verifier: str) -> dict[str, Any]:
        meta = await self.auth.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_url(),
            "code_verifier": verifier,
            "client_id": self.auth.client_id,
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.auth.client_secret:
            basic = f"{self.auth.client_id}:{self.auth.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(basic).decode()
        response = await self.auth.http.fetch(
            HTTPRequest(
                meta["token_endpoint"],
                method="POST",
                headers=headers,
                body=urlencode(form),
                request_timeout=self.auth.http_timeout,
            ),
            raise_error=False,
        )
        if response.code != 200:
            raise Unauthorized(f"the identity provider refused the code (HTTP {response.code})")
        return dict(json.loads(response.body))


class LogoutHandler(OIDCPage):
    async def get(self) -> None:
        principal = await browser_principal(self.auth, self)
        id_token = self.read_cookie(ID_TOKEN_COOKIE, self.auth.session_seconds)
        for name in (SESSION_COOKIE, ID_TOKEN_COOKIE):
            self.clear_cookie(name, path="/")
        if principal is not None:
            async with self.backend.ctx.sessions.begin() as session:
                await audit.record(session, "user.logout", principal)
        meta = await self.auth.metadata()
        end = meta.get("end_session_endpoint")
        back = self.backend.ctx.settings.public_url.rstrip("/") + "/dashboard/login"
        if self.auth.post_logout_redirect_url:
            back = self.auth.post_logout_redirect_url
        if end and id_token is not None:
            query = {
                "id_token_hint": id_token.decode(),
                "post_logout_redirect_uri": back,
                "client_id": self.auth.client_id,
            }
            # A page that moves on by itself rather than a redirect: the dashboard's sign-out
            # is a form, and its CSP (form-action 'self') would block a form's redirect chain
            # from reaching the provider's origin.
            target = html.escape(f"{end}?{urlencode(query)}", quote=True)
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.finish(
                f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
                f"<title>Signing out</title><p>Signed out here. "
                f'<a href="{target}">Sign out at the identity provider too</a>.</p>'
            )
        else:
            self.redirect(back)


async def browser_principal(auth: OIDCLogin, handler: web.RequestHandler) -> Principal | None:
    """The user of an OIDC browser session (for the dashboard), or None."""
    secret = handler.settings["trevor"].ctx.settings.secret_key
    raw = web.decode_signed_value(
        secret, SESSION_COOKIE, handler.get_cookie(SESSION_COOKIE), auth.session_seconds / 86400
    )
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        user_id, issued = str(data["u"]), float(data["i"])
    except (ValueError, KeyError, TypeError):
        return None
    if time.time() - issued > auth.session_seconds:
        return None
    async with handler.settings["trevor"].ctx.sessions() as session:
        user = await session.get(User, user_id)
        if user is None:
            return None
        principal = await principal_for(session, user)
    return dataclasses.replace(principal, auth_method="oidc-session")


def login_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    return [
        (r"/login", LoginHandler),
        (r"/oauth/callback", CallbackHandler),
        (r"/logout", LogoutHandler),
    ]
