"""The authorisation matrix again, every caller holding an access token from the real OpenID
provider instead of a trevor API token (``OIDCAuthenticator``).

The test is the backend suite's own, imported so it runs with this module's ``live``. One
backend serves every cell (each cell acts on fresh requests, as in the original), on SQLite:
the database's part is covered by the original; this is about the way in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.backend.test_authz_matrix import test_authorisation_matrix  # noqa: F401
from tests.fixtures.backend import LiveBackend
from tests.identity.conftest import oidc_backend, sqlite_in
from tests.identity.provider import OIDCProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    tmp_path_factory: pytest.TempPathFactory,
    oidc_provider: OIDCProvider,
    oidc_tokens: dict[str, str],
) -> AsyncIterator[LiveBackend]:
    url, data = sqlite_in(tmp_path_factory.mktemp("oidc-matrix"))
    async with oidc_backend(url, data, oidc_provider) as lb:
        lb.tokens = dict(oidc_tokens)
        yield lb
