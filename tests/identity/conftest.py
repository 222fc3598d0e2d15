"""Fixtures of the identity tests: a real OpenID provider, and backends that trust it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests.fixtures.backend import USERS, LiveBackend, start_backend
from tests.identity.hub import Hub
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
async def backend_with(
    database_url: str,
    data_dir: Path,
    authenticator_class: type,
    config: Config,
    traits: dict[str, Any] | None = None,
) -> AsyncIterator[LiveBackend]:
    """The demo backend with ``authenticator_class``; ``traits`` as a module's backend_traits."""
    traits = dict(traits or {})
    merged = Config(traits.pop("config", Config()))
    merged.merge(config)
    lb, server = await start_backend(
        database_url, data_dir, authenticator_class=authenticator_class, config=merged, **traits
    )
    try:
        yield lb
    finally:
        server.stop()
        await server.close_all_connections()
        await lb.backend.close()


def oidc_backend(
    database_url: str,
    data_dir: Path,
    provider: OIDCProvider,
    traits: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """The demo backend with ``OIDCAuthenticator`` trusting ``provider`` (``options``: traits)."""
    return backend_with(
        database_url, data_dir, OIDCAuthenticator, oidc_config(provider, **options), traits
    )


def sqlite_in(directory: Path) -> tuple[str, Path]:
    """A database URL and a data dir under ``directory`` (for module-scoped backends)."""
    data = directory / "data"
    data.mkdir()
    return f"sqlite:///{directory / 'trevor.sqlite'}", data


def hub_config(hub: Hub, **options: Any) -> Config:
    return Config({"JupyterHubAuthenticator": {"hub_api_url": hub.api_url, **options}})


@pytest.fixture(scope="session")
def token_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A real hub whose users' API tokens the backend is shown (no single-user servers)."""
    hub = Hub(tmp_path_factory.mktemp("token-hub"), backend_url="http://127.0.0.1:9")
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def hub_tokens(token_hub: Hub) -> dict[str, str]:
    """A hub API token of each demo user."""
    return {user: token_hub.user_token(user) for user in USERS}


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


@pytest.fixture
def provider_dir(tmp_path: Path) -> Path:
    (tmp_path / "provider").mkdir()
    return tmp_path / "provider"


@pytest.fixture
async def login_world(
    database_url: str, data_dir: Path, provider_dir: Path
) -> AsyncIterator[tuple[LiveBackend, OIDCProvider]]:
    """A backend trusting a provider whose client is registered with the backend's callback."""
    provider = OIDCProvider(provider_dir)
    async with oidc_backend(database_url, data_dir, provider) as live:
        live.backend.authenticator.redirect_url = f"{live.url}/oauth/callback"
        live.backend.authenticator.post_logout_redirect_url = f"{live.url}/dashboard/login"
        provider.redirect_uris = [f"{live.url}/oauth/callback"]
        provider.start()
        try:
            yield live, provider
        finally:
            provider.stop()
