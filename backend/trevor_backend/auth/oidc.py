"""OpenID Connect: access tokens (JWT) from an identity provider such as Keycloak.

``OIDCAuthenticator`` accepts ``Authorization: Bearer <JWT>`` issued by ``issuer``: the
signature is checked against the issuer's published keys (JWKS, found by discovery, cached and
fetched again when a token names a key we have not seen: that is how key rotation reaches us),
and ``iss``, ``aud`` and ``exp`` are enforced with a small clock-skew leeway. JOSE itself is
joserfc's; nothing here parses or checks signatures by hand. API tokens (``trv_…``) keep
working beside it, for automation. Browser login for the dashboard lives in ``oidc_login.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncSession
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Float, List, Unicode, default

from ..errors import Unavailable
from ..principal import Principal
from .base import bearer_token
from .shadow import Identity, ShadowUserAuthenticator, invalid_token

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest

log = logging.getLogger("trevor_backend.auth")


class ProviderUnreachable(Unavailable):
    title = "Identity provider unreachable"


@dataclass
class _Keys:
    keys: KeySet
    fetched_at: float


class OIDCAuthenticator(ShadowUserAuthenticator):
    """OIDC bearer tokens and (with ``oidc_login``) browser login; API tokens still work."""

    auth_method = "oidc"

    issuer = Unicode(
        config=True,
        help="The identity provider's issuer URL, exactly as in its tokens' `iss` "
        "(env TREVOR_OIDC_ISSUER), e.g. https://keycloak.example.org/realms/tre.",
    )
    client_id = Unicode(
        config=True, help="This backend's OIDC client id (env TREVOR_OIDC_CLIENT_ID)."
    )
    client_secret = Unicode(
        config=True,
        help="The client's secret for the browser login's code exchange "
        "(env TREVOR_OIDC_CLIENT_SECRET); empty for a public client (PKCE only).",
    )
    audience = List(
        Unicode(),
        config=True,
        help="Accepted `aud` values of access tokens (env TREVOR_OIDC_AUDIENCE, comma "
        "separated); default: the client id. A token for any other audience is refused.",
    )
    algorithms = List(
        Unicode(),
        ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"],
        config=True,
        help="Signature algorithms accepted (never `none`, never HMAC: the keys are public).",
    )
    username_claim = Unicode(
        "preferred_username", config=True, help="Claim holding the trevor username."
    )
    groups_claim = Unicode(
        "groups", config=True, help="Claim holding the user's groups (a list of strings)."
    )
    scopes = List(
        Unicode(),
        ["openid", "profile", "email"],
        config=True,
        help="Scopes the browser login asks for (add the one that puts groups into tokens).",
    )
    leeway = Float(
        60.0, config=True, help="Seconds of clock skew tolerated on `exp`, `nbf` and `iat`."
    )
    jwks_cache_seconds = Float(
        3600.0, config=True, help="Seconds before the issuer's keys are fetched again."
    )
    jwks_min_refresh_seconds = Float(
        10.0,
        config=True,
        help="Least seconds between two key fetches triggered by unknown key ids, so tokens "
        "with made-up `kid`s cannot make us hammer the provider.",
    )
    http_timeout = Float(10.0, config=True, help="Seconds for calls to the identity provider.")
    # --- browser login (oidc_login.py) ---------------------------------------------------------
    login_label = Unicode(
        "Sign in with your organisation", config=True, help="The dashboard login button's text."
    )
    redirect_url = Unicode(
        config=True,
        help="The callback URL registered at the provider; default: <public_url>/oauth/callback.",
    )
    post_logout_redirect_url = Unicode(
        config=True,
        help="Where the provider sends the browser after logout (register it there too); "
        "default: <public_url>/dashboard/login.",
    )
    session_seconds = Float(
        8 * 3600.0, config=True, help="Lifetime of a browser session from an OIDC login."
    )

    @default("issuer")
    def _issuer_default(self) -> str:
        return os.environ.get("TREVOR_OIDC_ISSUER", "")

    @default("client_id")
    def _client_id_default(self) -> str:
        return os.environ.get("TREVOR_OIDC_CLIENT_ID", "")

    @default("client_secret")
    def _client_secret_default(self) -> str:
        return os.environ.get("TREVOR_OIDC_CLIENT_SECRET", "")

    @default("audience")
    def _audience_default(self) -> list[str]:
        env = os.environ.get("TREVOR_OIDC_AUDIENCE", "")
        if env:
            return [a.strip() for a in env.split(",") if a.strip()]
        return [self.client_id] if self.client_id else []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.issuer:
            raise ValueError("OIDCAuthenticator needs an issuer (TREVOR_OIDC_ISSUER)")
        if not self.audience:
            raise ValueError(
                "OIDCAuthenticator needs an audience or a client id (TREVOR_OIDC_CLIENT_ID)"
            )
        self._metadata: dict[str, Any] | None = None
        self._keys: _Keys | None = None
        self._fetch_lock = asyncio.Lock()
        self.http = AsyncHTTPClient()

    # --- the provider's metadata and keys ------------------------------------------------------

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self.http.fetch(
                HTTPRequest(
                    url, request_timeout=self.http_timeout, connect_timeout=self.http_timeout
                ),
                raise_error=False,
            )
        except OSError as exc:
            raise ProviderUnreachable(f"the identity provider did not answer: {exc}") from exc
        if response.code != 200:
            raise ProviderUnreachable(
                f"the identity provider answered {url} with HTTP {response.code}"
            )
        return json.loads(response.body)

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (``/.well-known/openid-configuration``)."""
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = await self._get_json(url)
            if doc.get("issuer") != self.issuer:
                # OpenID Connect Discovery §4.3: the document must name the issuer we asked.
                raise ProviderUnreachable(
                    f"the discovery document names issuer {doc.get('issuer')!r}, "
                    f"not {self.issuer!r}"
                )
            self._metadata = doc
        return self._metadata

    async def _fetch_keys(self) -> KeySet:
        async with self._fetch_lock:
            jwks = await self._get_json((await self.metadata())["jwks_uri"])
            keys = KeySet.import_key_set(jwks)
            self._keys = _Keys(keys, time.monotonic())
            log.info("fetched %d signing keys from %s", len(keys.keys), self.issuer)
            return keys

    async def key_set(self, kid: str | None) -> KeySet:
        """The issuer's keys, fetched again when stale or when ``kid`` is unknown."""
        cached = self._keys
        now = time.monotonic()
        if cached is None or now - cached.fetched_at > self.jwks_cache_seconds:
            return await self._fetch_keys()
        unknown = kid is not None and not _has_kid(cached.keys, kid)
        if unknown and now - cached.fetched_at >= self.jwks_min_refresh_seconds:
            return await self._fetch_keys()
        return cached.keys

    # --- verifying access tokens -------------------------------------------------------------

    async def verify(self, token: str, *, audience: list[str] | None = None) -> dict[str, Any]:
        """The claims of a valid JWT from our issuer, or :class:`Unauthorized` saying why."""
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise invalid_token("the bearer token is not a well-formed JWT") from exc
        kid = header.get("kid")
        if header.get("alg") not in self.algorithms:
            raise invalid_token(f"tokens signed with {header.get('alg')!r} are not accepted")
        keys = await self.key_set(kid if isinstance(kid, str) else None)
        if isinstance(kid, str) and not _has_kid(keys, kid):
            raise invalid_token("the token is signed with a key the issuer does not publish")
        try:
            decoded = jwt.decode(token, keys, algorithms=list(self.algorithms))
        except BadSignatureError as exc:
            raise invalid_token("the token's signature does not verify") from exc
        except (JoseError, ValueError) as exc:
            raise invalid_token(f"the token could not be verified: {exc}") from exc
        registry = jwt.JWTClaimsRegistry(
            leeway=int(self.leeway),
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "values": list(audience or self.audience)},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except ExpiredTokenError as exc:
            raise invalid_token("the token has expired") from exc
        except InvalidClaimError as exc:
            what = {"aud": "is for another audience", "iss": "is from another issuer"}
            raise invalid_token(
                f"the token {what.get(exc.claim, f'has an invalid {exc.claim!r} claim')}"
            ) from exc
        except MissingClaimError as exc:
            raise invalid_token(f"the token lacks the {exc.claim!r} claim") from exc
        except JoseError as exc:
            raise invalid_token(f"the token's claims are not valid: {exc}") from exc
        return dict(decoded.claims)

    def identity_from_claims(self, claims: dict[str, Any], method: str) -> Identity:
        username = claims.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise invalid_token(f"the token has no {self.username_claim!r} claim to name the user")
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise invalid_token(f"the {self.groups_claim!r} claim is not a list of strings")
        email = claims.get("email")
        name = claims.get("name")
        return Identity(
            username=username,
            method=method,
            email=email if isinstance(email, str) else None,
            display_name=name if isinstance(name, str) else None,
            groups=tuple(groups),
            details={"issuer": self.issuer, "subject": claims.get("sub")},
        )

    async def authenticate(
        self, request: HTTPServerRequest, session: AsyncSession
    ) -> Principal | None:
        secret = bearer_token(request)
        if secret is not None and looks_like_jwt(secret):
            claims = await self.verify(secret)
            return await self.shadow_principal(session, self.identity_from_claims(claims, "oidc"))
        # Browser sessions are for the dashboard only (browser_principal): the API takes
        # bearer credentials, so no cross-site form can act with a visitor's cookie.
        return await self.token_principal(request, session)

    # --- browser login --------------------------------------------------------------------------

    def login_handlers(self) -> list[tuple[str, Any]]:
        from .oidc_login import login_routes

        return list(login_routes())

    def login_options(self, next_url: str) -> list[Any]:
        from .base import LoginOption  # the dashboard's login page hook

        return [LoginOption(self.login_label, "/login?" + urlencode({"next": next_url}))]

    async def browser_principal(self, handler: Any) -> Principal | None:
        from .oidc_login import browser_principal

        return await browser_principal(self, handler)


def looks_like_jwt(value: str) -> bool:
    # A JWS compact serialisation has exactly three dot-separated parts; API tokens have none.
    return value.count(".") == 2


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)
