"""The authorisation matrix again, every caller holding a JupyterHub API token of their hub
user instead of a trevor API token (``JupyterHubAuthenticator`` asking a real hub).

The test is the backend suite's own, imported so it runs with this module's ``live``; one
backend serves every cell (each cell acts on fresh requests, as in the original), on SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.backend.test_authz_matrix import test_authorisation_matrix  # noqa: F401
from tests.fixtures.backend import LiveBackend
from tests.identity.conftest import backend_with, hub_config, sqlite_in
from tests.identity.hub import Hub
from trevor_backend.auth.jupyterhub import JupyterHubAuthenticator

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    tmp_path_factory: pytest.TempPathFactory, token_hub: Hub, hub_tokens: dict[str, str]
) -> AsyncIterator[LiveBackend]:
    url, data = sqlite_in(tmp_path_factory.mktemp("hub-matrix"))
    async with backend_with(url, data, JupyterHubAuthenticator, hub_config(token_hub)) as lb:
        lb.tokens = dict(hub_tokens)
        yield lb
