"""Which credential the server extension sends: a configured trevor token wins; under JupyterHub
with none configured, the server's own hub token (for JupyterHubAuthenticator); else nothing."""

from __future__ import annotations

import pytest

from jupyter_trevor.client import BackendClient
from jupyter_trevor.extension import TrevorExtensionApp


@pytest.mark.parametrize(
    ("env", "sent"),
    [
        ({"TREVOR_TOKEN": "trv_configured", "JUPYTERHUB_API_TOKEN": "hub"}, "trv_configured"),
        ({"JUPYTERHUB_API_TOKEN": "hub-server-token"}, "hub-server-token"),
        ({}, ""),
    ],
    ids=["configured token wins", "hub identity forwarded", "outside a hub: nothing"],
)
def test_credential_sent_to_the_backend(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], sent: str
) -> None:
    for name in ("TREVOR_TOKEN", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = TrevorExtensionApp()
    assert app.token == sent
    client = BackendClient("http://backend.test", app.token)
    headers = client._auth_headers("http://backend.test/api/v1/users/me")
    assert headers == ({"Authorization": f"Bearer {sent}"} if sent else {})
    # Never to another origin (a pre-signed store URL), whichever credential it is.
    assert client._auth_headers("http://store.test/bucket/object") == {}
