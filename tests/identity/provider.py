"""A real OpenID provider for tests: the certified ``oidc-provider`` (npm) run with node.

:class:`OIDCProvider` writes the provider's configuration (an RSA signing key made here, clients,
accounts with groups, resource servers), starts ``node tests/identity/node/provider.mjs`` on a
free loopback port and waits for its discovery document. :meth:`OIDCProvider.access_token` plays
the authorization code flow with PKCE through the provider's own login and consent pages over
HTTP, the way a browser would, and returns the JWT access token the provider issues.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from joserfc.jwk import RSAKey

from tests.fixtures.processes import free_port

NODE_DIR = Path(__file__).resolve().parent / "node"
PROVIDER_SCRIPT = NODE_DIR / "provider.mjs"
API_RESOURCE = "http://trevor.test/api"
API_AUDIENCE = "trevor-api"
OTHER_RESOURCE = "http://other.test/api"
OTHER_AUDIENCE = "other-api"
CLIENT_ID = "trevor"
CLIENT_SECRET = "trevor-test-secret"
SHORT_CLIENT_ID = "short-lived"
# Not a listening address: the token flow stops at the redirect and reads the code from it.
TEST_REDIRECT = "http://127.0.0.1:9/callback"

#: The test users. Groups follow the default role_group_pattern (trevor:PROJECT:ROLE).
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"name": "Alice A", "email": "alice@example.org", "groups": ["trevor:p1:researcher"]},
    "bob": {"name": "Bob B", "email": "bob@example.org", "groups": ["trevor:p2:researcher"]},
    "carol": {
        "name": "Carol C",
        "email": "carol@example.org",
        "groups": ["trevor:p1:output_checker"],
    },
    "dave": {"name": "Dave D", "email": "dave@example.org", "groups": ["trevor:p1:output_checker"]},
    "erin": {"name": "Erin E", "email": "erin@example.org", "groups": ["trevor:p2:output_checker"]},
    "root": {"name": "Root R", "email": "root@example.org", "groups": ["trevor-admins"]},
    # A newcomer the backend has never seen: a shadow record is made on first use.
    "nina": {
        "name": "Nina New",
        "email": "nina@example.org",
        "groups": ["trevor:p1:researcher", "staff"],
    },
    # Groups that would make her researcher and checker on p1: refused.
    "mallory": {
        "name": "Mallory M",
        "email": "mallory@example.org",
        "groups": ["trevor:p1:researcher", "trevor:p1:output_checker", "trevor:p2:researcher"],
    },
}


def new_signing_key(kid: str) -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return dict(key.as_dict(private=True))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class OIDCProvider:
    workdir: Path
    port: int = field(default_factory=free_port)
    redirect_uris: list[str] = field(default_factory=list)
    short_ttl: int = 3
    process: subprocess.Popen[bytes] | None = None
    key_ids: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle --------------------------------------------------------------------------

    def config(self, keys: list[dict[str, Any]]) -> dict[str, Any]:
        client = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [TEST_REDIRECT, *self.redirect_uris],
            "post_logout_redirect_uris": [
                u.removesuffix("/oauth/callback") + "/dashboard/login" for u in self.redirect_uris
            ],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }
        short = {**client, "client_id": SHORT_CLIENT_ID}
        return {
            "issuer": self.issuer,
            "port": self.port,
            "jwks": {"keys": keys},
            "cookie_keys": [secrets.token_hex(16)],
            "clients": [client, short],
            "accounts": ACCOUNTS,
            "resources": {
                API_RESOURCE: {"audience": API_AUDIENCE, "scope": "trevor", "ttl": 600},
                OTHER_RESOURCE: {"audience": OTHER_AUDIENCE, "scope": "trevor", "ttl": 600},
            },
            "default_resource": API_RESOURCE,
            "client_token_ttl": {SHORT_CLIENT_ID: self.short_ttl},
        }

    def start(self, kid: str = "key-1") -> None:
        node = shutil.which("node")
        assert node, "node is required for the OpenID provider tests"
        assert (NODE_DIR / "node_modules" / "oidc-provider").is_dir(), (
            "oidc-provider is not installed: run `bash scripts/setup.sh`"
        )
        self.key_ids.append(kid)
        path = self.workdir / f"provider-{kid}.json"
        path.write_text(json.dumps(self.config([new_signing_key(kid)])))
        log = (self.workdir / f"provider-{kid}.log").open("wb")
        self.process = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT), str(path)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"oidc-provider exited: {(self.workdir / f'provider-{kid}.log').read_text()}"
                )
            try:
                r = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("oidc-provider did not start within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def rotate(self, kid: str) -> None:
        """Restart with a new signing key: the old one is no longer published."""
        self.stop()
        self.start(kid)

    # --- the authorization code flow, as a browser plays it -----------------------------------

    def access_token(
        self,
        username: str,
        *,
        client_id: str = CLIENT_ID,
        resource: str | None = None,
    ) -> str:
        return str(self.tokens(username, client_id=client_id, resource=resource)["access_token"])

    def tokens(
        self, username: str, *, client_id: str = CLIENT_ID, resource: str | None = None
    ) -> dict[str, Any]:
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {
            "client_id": client_id,
            "redirect_uri": TEST_REDIRECT,
            "response_type": "code",
            "scope": "openid profile email groups trevor",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if resource:
            params["resource"] = resource
        with httpx.Client(timeout=30) as http:
            url = f"{self.issuer}/auth?{urlencode(params)}"
            page = self._follow(http, http.get(url))
            page = self._follow(
                http,
                http.post(
                    _form_action(page, self.issuer),
                    data={"prompt": "login", "login": username, "password": "any"},
                ),
            )
            if isinstance(page, httpx.Response):  # the consent page
                page = self._follow(
                    http, http.post(_form_action(page, self.issuer), data={"prompt": "consent"})
                )
            assert isinstance(page, str), "the provider did not redirect back with a code"
            query = parse_qs(urlsplit(page).query)
            assert query.get("state") == [state], query
            if "error" in query:
                raise RuntimeError(f"authorization failed: {query}")
            form = {
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": TEST_REDIRECT,
                "code_verifier": verifier,
            }
            if resource:
                form["resource"] = resource
            r = http.post(f"{self.issuer}/token", data=form, auth=(client_id, CLIENT_SECRET))
            assert r.status_code == 200, r.text
            return dict(r.json())

    def _follow(self, http: httpx.Client, response: httpx.Response) -> httpx.Response | str:
        """Follow redirects; the final page, or the redirect URI with the code (a string)."""
        while response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(TEST_REDIRECT):
                return target
            response = http.get(target)
        assert response.status_code == 200, response.text
        return response


def _form_action(page: httpx.Response | str, issuer: str) -> str:
    assert isinstance(page, httpx.Response), page
    m = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert m, page.text
    return urljoin(issuer, unescape(m.group(1)))
