"""The OIDC browser login's own pages, without a browser: a callback that did not start here,
or that carries another state, signs nobody in; ``/login`` goes to the provider with PKCE,
state and nonce, and never redirects back off-site."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.fixtures.backend import LiveBackend
from tests.identity.provider import OIDCProvider
from trevor_backend.auth.oidc_login import safe_next


def test_after_login_only_paths_on_this_site() -> None:
    assert safe_next("/dashboard/audit?x=1") == "/dashboard/audit?x=1"
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None):
        assert safe_next(target) == "/dashboard/"


async def test_tampered_or_foreign_callbacks_are_refused(
    login_world: tuple[LiveBackend, OIDCProvider],
) -> None:
    """A callback that did not start here (no flow cookie), or with another state, signs
    nobody in."""
    live, _ = login_world
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        r = await http.get("/oauth/callback", params={"code": "x", "state": "y"})
        assert r.status_code == 401 and "did not start here" in r.text
        start = await http.get("/login", params={"next": "https://evil.example/"})
        assert start.status_code == 302
        assert start.headers["location"].startswith(_authorize_url(live))
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
        assert query["state"][0] and query["nonce"][0] and query["state"] != query["nonce"]
        assert query["redirect_uri"] == [f"{live.url}/oauth/callback"]
        r = await http.get("/oauth/callback", params={"code": "x", "state": "forged"})
        assert r.status_code == 401 and "state" in r.text
        assert "trevor_session" not in http.cookies


def _authorize_url(live: LiveBackend) -> str:
    return live.backend.authenticator._metadata["authorization_endpoint"]
