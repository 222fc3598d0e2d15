"""Fixtures of the identity tests: a real OpenID provider, and backends that trust it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests.fixtures.backend import USERS, LiveBackend, start_backend
from tests.identity.provider import API_AUDIENCE, CLIENT_ID, CLIENT_SECRET, OIDCProvider
from trevor_backend.auth.oidc import OIDCAuthenticator


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    provider = OIDCProvider(tmp_path_factory.mktemp("oidc"))
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def oidc_config(provider: OIDCProvider, **extra: Any) -> Config:
    return Config(
        {
            "OIDCAuthenticator": {
                "issuer": provider.issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "audience": [API_AUDIENCE],
                "jwks_min_refresh_seconds": 0.0,
                **extra,
            }
        }
    )


@pytest.fixture(scope="module")
def oidc_tokens(oidc_provider: OIDCProvider) -> dict[str, str]:
    """An access token from the provider for each demo user (minted once per module)."""
    return {user: oidc_provider.access_token(user) for user in USERS}


@asynccontextmanager
async def oidc_backend(
    database_url: str, data_dir: Path, provider: OIDCProvider, **options: Any
) -> AsyncIterator[LiveBackend]:
    """The demo backend with ``OIDCAuthenticator`` trusting ``provider``; ``options``: traits."""
    lb, server = await start_backend(
        database_url,
        data_dir,
        authenticator_class=OIDCAuthenticator,
        config=oidc_config(provider, **options),
    )
    try:
        yield lb
    finally:
        server.stop()
        await server.close_all_connections()
        await lb.backend.close()


@pytest.fixture
async def oidc_live(
    database_url: str,
    data_dir: Path,
    oidc_provider: OIDCProvider,
    oidc_tokens: dict[str, str],
) -> AsyncIterator[LiveBackend]:
    """The demo backend with ``OIDCAuthenticator``; each user's client holds a provider token."""
    async with oidc_backend(database_url, data_dir, oidc_provider) as lb:
        lb.tokens = dict(oidc_tokens)
        yield lb
