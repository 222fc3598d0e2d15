"""The API journeys again with each identity authenticator: every caller holds an access token
from the real OpenID provider (``OIDCAuthenticator``) or a JupyterHub API token of their hub
user (``JupyterHubAuthenticator`` asking a real hub) instead of a trevor API token.

The tests are the backend suite's own, imported so they run with this module's ``live``
(SQLite: the database's part is covered by the originals; this is about the way in).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backend.test_journey import (  # noqa: F401
    test_checker_sees_submitted_not_draft,
    test_list_pagination_and_filters,
    test_replace_object_carries_metadata,
    test_researcher_journey_with_large_upload,
    test_submit_requires_described_objects,
    test_withdraw_and_actions,
)
from tests.backend.test_review_journey import backend_traits, test_review_journey  # noqa: F401
from tests.fixtures.backend import LiveBackend
from tests.identity.conftest import backend_with, hub_config, oidc_config, sqlite_in
from trevor_backend.auth.jupyterhub import JupyterHubAuthenticator
from trevor_backend.auth.oidc import OIDCAuthenticator


@pytest.fixture(params=["oidc", "jupyterhub"])
async def live(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend_traits: dict[str, Any],  # noqa: F811 - the review journey's (email on)
) -> AsyncIterator[LiveBackend]:
    if request.param == "oidc":
        cls, config = OIDCAuthenticator, oidc_config(request.getfixturevalue("oidc_provider"))
        tokens = request.getfixturevalue("oidc_tokens")
    else:
        cls, config = JupyterHubAuthenticator, hub_config(request.getfixturevalue("token_hub"))
        tokens = request.getfixturevalue("hub_tokens")
    url, data = sqlite_in(tmp_path)
    async with backend_with(url, data, cls, config, backend_traits) as lb:
        lb.tokens = dict(tokens)
        yield lb
