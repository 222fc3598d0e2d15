"""API calls with access tokens from a real OpenID provider (``oidc-provider`` run with node).

Every refusal is checked as an attacker would meet it: a 401 problem+json and no user record
made, for tokens the provider really issued (expired, for another audience, signed with a key it
no longer publishes) and for tokens tampered with after issue.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.fixtures.backend import Client, LiveBackend
from tests.identity.conftest import oidc_backend
from tests.identity.provider import (
    OTHER_RESOURCE,
    SHORT_CLIENT_ID,
    OIDCProvider,
)
from trevor_backend.auth.oidc import OIDCAuthenticator
from trevor_backend.orm import AuditEvent, Membership, User


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


async def _assert_refused(live: LiveBackend, token: str, why: str) -> None:
    reply = await Client(live.url, token).get("/api/v1/users/me")
    assert reply.status == 401, reply.body
    assert reply.content_type.startswith("application/problem+json")
    problem = reply.json
    assert problem["status"] == 401
    assert why in problem["detail"], problem
    assert reply.headers["WWW-Authenticate"].startswith('Bearer realm="trevor"')


async def test_provider_access_token_calls_the_api(oidc_live: LiveBackend) -> None:
    me = await oidc_live.client("alice").get("/api/v1/users/me")
    assert me.status == 200, me.body
    assert me.json["username"] == "alice"
    assert me.json["email"] == "alice@example.org"
    assert me.json["display_name"] == "Alice A"
    # Work done with the token is audited with the way the caller logged in.
    rid = (await oidc_live.client("alice").create_request())["id"]
    async with oidc_live.backend.ctx.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.request_id == rid, AuditEvent.type == "request.created"
            )
        )
    assert event is not None
    assert event.actor == "alice"
    assert event.payload.get("auth_method") == "oidc", event.payload


async def test_api_tokens_keep_working_beside_oidc(oidc_live: LiveBackend) -> None:
    # The demo's trv_ tokens (automation) still authenticate, and say so in the audit log.
    import tests.fixtures.backend as fb

    demo = fb.Client(oidc_live.url, None)
    async with oidc_live.backend.ctx.sessions.begin() as session:
        from trevor_backend.auth.tokens import create_token

        user = await session.scalar(select(User).where(User.username == "bob"))
        assert user is not None
        demo.token = await create_token(session, user, note="automation")
    me = await demo.get("/api/v1/users/me")
    assert me.status == 200 and me.json["username"] == "bob"
    rid = (await demo.create_request(project="p2"))["id"]
    async with oidc_live.backend.ctx.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.request_id == rid, AuditEvent.type == "request.created"
            )
        )
    assert event is not None and event.payload.get("auth_method") == "token"


async def test_expired_token_is_refused(
    database_url: str, data_dir: Path, oidc_provider: OIDCProvider
) -> None:
    token = oidc_provider.access_token("alice", client_id=SHORT_CLIENT_ID)
    exp = json.loads(_unb64(token.split(".")[1]))["exp"]
    async with oidc_backend(database_url, data_dir, oidc_provider, leeway=1.0) as live:
        # Valid at first: the same token works before it expires...
        assert (await Client(live.url, token).get("/api/v1/users/me")).status == 200
        await asyncio.sleep(max(0.0, exp + 2 - time.time()))  # ...not once exp + leeway passed
        await _assert_refused(live, token, "expired")
        # Clock skew: with the default leeway of a minute the same token is still accepted.
        live.backend.authenticator.leeway = 60.0
        assert (await Client(live.url, token).get("/api/v1/users/me")).status == 200


async def test_token_for_another_audience_is_refused(
    oidc_live: LiveBackend, oidc_provider: OIDCProvider
) -> None:
    token = oidc_provider.access_token("nina", resource=OTHER_RESOURCE)
    claims = json.loads(_unb64(token.split(".")[1]))
    assert claims["aud"] == "other-api"  # a genuine token, signed by the provider
    await _assert_refused(oidc_live, token, "another audience")
    async with oidc_live.backend.ctx.sessions() as session:
        assert await session.scalar(select(User).where(User.username == "nina")) is None


async def test_tampered_tokens_are_refused(oidc_live: LiveBackend, oidc_tokens: dict) -> None:
    header, payload, signature = oidc_tokens["bob"].split(".")
    claims = json.loads(_unb64(payload))
    # 1. claims changed after signing: bob makes himself root
    forged = _b64(json.dumps({**claims, "preferred_username": "root"}).encode())
    await _assert_refused(oidc_live, f"{header}.{forged}.{signature}", "signature")
    # 2. a flipped bit in the signature
    sig = bytearray(_unb64(signature))
    sig[10] ^= 0x01
    await _assert_refused(oidc_live, f"{header}.{payload}.{_b64(bytes(sig))}", "signature")
    # 3. the signature stripped and the algorithm set to none
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    await _assert_refused(oidc_live, f"{none_header}.{forged}.", "not accepted")
    # 4. HMAC "signed" with the provider's public key as the secret (algorithm confusion)
    hs_header = _b64(json.dumps({**json.loads(_unb64(header)), "alg": "HS256"}).encode())
    await _assert_refused(oidc_live, f"{hs_header}.{forged}.{signature}", "not accepted")
    # 5. not a JWT at all, but shaped like one
    await _assert_refused(oidc_live, "a.b.c", "well-formed")


async def test_rotated_signing_key(database_url: str, data_dir: Path, tmp_path: Path) -> None:
    provider = OIDCProvider(tmp_path)
    provider.start("key-old")
    try:
        async with oidc_backend(database_url, data_dir, provider) as live:
            old = provider.access_token("carol")
            assert (await Client(live.url, old).get("/api/v1/users/me")).status == 200
            provider.rotate("key-new")
            new = provider.access_token("carol")
            assert json.loads(_unb64(new.split(".")[0]))["kid"] == "key-new"
            # Only the old key is cached: the unknown kid makes the backend fetch the JWKS again.
            me = await Client(live.url, new).get("/api/v1/users/me")
            assert me.status == 200, me.body
            assert me.json["username"] == "carol"
            # The old key is gone from the provider's JWKS, so tokens it signed are refused now.
            published = (await asyncio.to_thread(httpx.get, f"{provider.issuer}/jwks")).json()
            assert [k["kid"] for k in published["keys"]] == ["key-new"]
            await _assert_refused(live, old, "does not publish")
    finally:
        provider.stop()


async def test_first_use_creates_shadow_user_with_group_roles(
    database_url: str, data_dir: Path, oidc_provider: OIDCProvider
) -> None:
    async with oidc_backend(
        database_url, data_dir, oidc_provider, manage_roles=True, admin_groups=["trevor-admins"]
    ) as live:
        nina = Client(live.url, oidc_provider.access_token("nina"))
        me = await nina.get("/api/v1/users/me")
        assert me.status == 200, me.body
        assert me.json["username"] == "nina"
        assert me.json["admin"] is False
        assert me.json["memberships"] == [{"project": "p1", "role": "researcher"}]
        # Her groups make her a researcher of p1, so she can start a request there.
        assert (await nina.post("/api/v1/requests", {"project": "p1", "title": "t"})).status == 201
        # A second call changes nothing and writes nothing.
        async with live.backend.ctx.sessions() as session:
            before = await session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()))
        assert (await nina.get("/api/v1/users/me")).status == 200
        async with live.backend.ctx.sessions() as session:
            after = await session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()))
            created = await session.scalar(
                select(AuditEvent).where(AuditEvent.type == "user.created")
            )
        assert before == after
        assert created is not None and created.payload["method"] == "oidc"
        assert created.payload["issuer"] == oidc_provider.issuer

        # root's group makes the admin flag follow the provider.
        root = await Client(live.url, oidc_provider.access_token("root")).get("/api/v1/users/me")
        assert root.json["admin"] is True
        # Groups are the source of truth: carol (a p1 checker in the demo world and in her
        # groups) keeps that role; the demo world's other memberships of hers would be removed.
        carol = await Client(live.url, oidc_provider.access_token("carol")).get("/api/v1/users/me")
        assert carol.json["memberships"] == [{"project": "p1", "role": "output_checker"}]


async def test_researcher_and_checker_groups_are_refused_and_audited(
    database_url: str, data_dir: Path, oidc_provider: OIDCProvider
) -> None:
    async with oidc_backend(database_url, data_dir, oidc_provider, manage_roles=True) as live:
        mallory = Client(live.url, oidc_provider.access_token("mallory"))
        me = await mallory.get("/api/v1/users/me")
        assert me.status == 200, me.body
        # p1 would be both researcher and checker: no role there; p2 is fine.
        assert me.json["memberships"] == [{"project": "p2", "role": "researcher"}]
        async with live.backend.ctx.sessions() as session:
            refused = list(
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.type == "membership.refused")
                )
            )
            uid = await session.scalar(select(User.id).where(User.username == "mallory"))
            p1 = await session.get(Membership, ("p1", uid))
        assert p1 is None
        assert len(refused) == 1
        assert refused[0].project_id == "p1"
        assert refused[0].payload["roles"] == ["output_checker", "researcher"]
        # She cannot act as either on p1.
        assert (await mallory.post("/api/v1/requests", {"project": "p1", "title": "t"})).status in (
            403,
            422,
        )
        queue = await mallory.get("/api/v1/review-queue")
        assert queue.status == 200 and queue.json["items"] == []


@pytest.mark.parametrize("value", ["", "Bearer", "Basic dXNlcjpwYXNz"])
async def test_no_usable_credentials_is_401(oidc_live: LiveBackend, value: str) -> None:
    reply = await Client(oidc_live.url, None).get(
        "/api/v1/users/me", headers={"Authorization": value} if value else {}
    )
    assert reply.status == 401
    assert reply.content_type.startswith("application/problem+json")


async def test_made_up_key_ids_do_not_hammer_the_provider(
    database_url: str, data_dir: Path, oidc_provider: OIDCProvider, oidc_tokens: dict
) -> None:
    """Unknown kids make the backend fetch the JWKS again, but at most once per
    jwks_min_refresh_seconds: a flood of tokens with made-up kids costs the provider nothing."""
    async with oidc_backend(
        database_url, data_dir, oidc_provider, jwks_min_refresh_seconds=3600.0
    ) as live:
        alice = Client(live.url, oidc_tokens["alice"])
        assert (await alice.get("/api/v1/users/me")).status == 200
        auth = live.backend.authenticator
        fetched = auth._keys.fetched_at
        header, payload, signature = oidc_tokens["alice"].split(".")
        for n in range(5):
            fake = _b64(json.dumps({**json.loads(_unb64(header)), "kid": f"made-up-{n}"}).encode())
            await _assert_refused(live, f"{fake}.{payload}.{signature}", "does not publish")
        assert auth._keys.fetched_at == fetched  # no fetch: the last one is too recent


async def test_unreachable_provider_is_503_problem(
    database_url: str, data_dir: Path, tmp_path: Path, oidc_tokens: dict
) -> None:
    gone = OIDCProvider(tmp_path)  # never started: nothing listens on its port
    async with oidc_backend(database_url, data_dir, gone) as live:
        reply = await Client(live.url, oidc_tokens["alice"]).get("/api/v1/users/me")
        assert reply.status == 503, reply.body
        assert reply.content_type.startswith("application/problem+json")
        assert "identity provider" in reply.json["detail"]
        # API tokens do not depend on the provider.
        async with live.backend.ctx.sessions.begin() as session:
            from trevor_backend.auth.tokens import create_token

            user = await session.scalar(select(User).where(User.username == "alice"))
            assert user is not None
            token = await create_token(session, user)
        assert (await Client(live.url, token).get("/api/v1/users/me")).status == 200


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREVOR_OIDC_ISSUER", "https://idp.example/realms/tre")
    monkeypatch.setenv("TREVOR_OIDC_CLIENT_ID", "trevor")
    monkeypatch.setenv("TREVOR_OIDC_CLIENT_SECRET", "s3cret")
    monkeypatch.delenv("TREVOR_OIDC_AUDIENCE", raising=False)
    auth = OIDCAuthenticator()
    assert (auth.issuer, auth.client_id, auth.client_secret) == (
        "https://idp.example/realms/tre",
        "trevor",
        "s3cret",
    )
    assert auth.audience == ["trevor"]  # the client id, unless told otherwise
    monkeypatch.setenv("TREVOR_OIDC_AUDIENCE", "trevor-api, other")
    assert OIDCAuthenticator().audience == ["trevor-api", "other"]
    monkeypatch.delenv("TREVOR_OIDC_ISSUER")
    with pytest.raises(ValueError, match="issuer"):
        OIDCAuthenticator()
