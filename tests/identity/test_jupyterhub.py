"""JupyterHub users in the airlock, with a real hub (jupyterhub + configurable-http-proxy), real
single-user JupyterLabs with the trevor extension, and Chromium.

A researcher logs in to the hub, their JupyterLab starts, the Airlock panel bundles a tagged
output into a request — with no trevor token configured anywhere: the extension forwards the
server's hub token and the backend's ``JupyterHubAuthenticator`` asks the hub whose it is.
Another hub user cannot see the request.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from traitlets.config import Config

from tests.fixtures.backend import Client, LiveBackend, start_backend
from tests.fixtures.lab import CHROMIUM, CHROMIUM_ARGS
from tests.identity.hub import Hub
from tests.server_extension.test_panel_browser import tag_table
from trevor_backend.auth.jupyterhub import JupyterHubAuthenticator
from trevor_backend.orm import AirlockRequest, AuditEvent, User

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-output" / "jupyterhub"

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about identity, which the database suites do not change,
    and each hub with two JupyterLabs costs minutes."""
    return f"sqlite:///{tmp_path / 'trevor.sqlite'}"


GROUPS = {"trevor:p1:researcher": ["alice"], "trevor:p2:researcher": ["bob"]}


@pytest.fixture
async def hub_backend(
    database_url: str, data_dir: Path, tmp_path: Path
) -> AsyncIterator[tuple[LiveBackend, Hub]]:
    """A hub, and a backend that identifies its users through the hub's API."""
    # The hub needs the backend's URL and the backend the hub's: fix the hub's ports first.
    hub = Hub(tmp_path / "hub", backend_url="")
    hub.workdir.mkdir()
    config = Config(
        {
            "JupyterHubAuthenticator": {
                "hub_api_url": hub.api_url,
                "manage_roles": True,
                "cache_max_age": 60.0,
            }
        }
    )
    live, server = await start_backend(
        database_url, data_dir, authenticator_class=JupyterHubAuthenticator, config=config
    )
    hub.backend_url = live.url
    hub.groups = GROUPS
    try:
        hub.start()
        yield live, hub
    finally:
        hub.stop()
        server.stop()
        await server.close_all_connections()
        await live.backend.close()


@pytest.fixture
def alice_home(hub_backend: tuple[LiveBackend, Hub]) -> Path:
    """alice's workspace, with an output she tagged; and Chromium, which the test requires."""
    assert Path(CHROMIUM).exists(), "the browser tests require Chromium (scripts/setup.sh)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    home = hub_backend[1].home("alice")
    home.mkdir(parents=True)
    tag_table(home)
    return home


async def _login_and_open_lab(browser: Any, hub: Hub, user: str) -> Any:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(180_000)  # the first spawn of a JupyterLab on a busy machine
    page = await context.new_page()
    await page.goto(f"{hub.url}/hub/login")
    await page.locator("#username_input").fill(user)
    await page.locator("#password_input").fill("any password")
    await page.locator("#login_submit").click()
    await page.wait_for_url(f"**/user/{user}/lab**")
    tab = page.locator('.lm-TabBar-tab[data-id="trevor-airlock"]')
    await tab.wait_for()
    return page


async def _fetch_json(page: Any, path: str) -> tuple[int, Any]:
    """GET through the user's own Jupyter server (same origin, their hub login cookie)."""
    result = await page.evaluate(
        """async (path) => {
            // As JupyterLab's own requests do: the XSRF cookie echoed in a header, which
            // JupyterHub's single-user servers require of cookie-authenticated API calls.
            const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || '';
            const r = await fetch(path, {
                credentials: 'same-origin', headers: {'X-XSRFToken': decodeURIComponent(xsrf)}
            });
            return [r.status, await r.text()];
        }""",
        path,
    )
    import json

    status, text = result
    return int(status), json.loads(text) if text else None


async def test_hub_user_creates_a_request_with_no_trevor_token(
    hub_backend: tuple[LiveBackend, Hub], alice_home: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    live, hub = hub_backend
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            expect.set_options(timeout=120_000)
            page = await _login_and_open_lab(browser, hub, "alice")
            await page.locator('.lm-TabBar-tab[data-id="trevor-airlock"]').click()
            panel = page.locator(".trevor-panel")
            output = panel.locator(".trevor-output", has_text="Counts by region")
            await output.locator("input[type=checkbox]").check()
            await panel.get_by_label("New request title").fill("Hub request")
            await panel.get_by_role("button", name="Add 1 to request").click()
            await expect(
                panel.locator(".trevor-request-view").get_by_text("Hub request")
            ).to_be_visible()
            await page.screenshot(path=str(ARTIFACTS / "alice-request.png"))

            # The backend made the request as the hub user alice, who logged in via the hub.
            async with live.backend.ctx.sessions() as session:
                req = await session.scalar(
                    select(AirlockRequest).where(AirlockRequest.title == "Hub request")
                )
                assert req is not None
                author = await session.get(User, req.created_by)
                created = await session.scalar(
                    select(AuditEvent).where(
                        AuditEvent.request_id == req.id, AuditEvent.type == "request.created"
                    )
                )
            assert author is not None and author.username == "alice"
            assert created is not None and created.payload["auth_method"] == "jupyterhub"
            rid = req.id

            # alice's own server sees it through the proxy...
            status, mine = await _fetch_json(page, f"/user/alice/trevor/api/requests/{rid}")
            assert status == 200 and mine["title"] == "Hub request"

            # ...bob, another hub user (researcher of p2), does not.
            bob = await _login_and_open_lab(browser, hub, "bob")
            status, listing = await _fetch_json(bob, "/user/bob/trevor/api/requests")
            assert status == 200, listing
            assert rid not in [r["id"] for r in listing["items"]]
            status, problem = await _fetch_json(bob, f"/user/bob/trevor/api/requests/{rid}")
            assert status == 404, problem
            status, me = await _fetch_json(bob, "/user/bob/trevor/api/users/me")
            assert status == 200 and me["username"] == "bob"
            assert me["memberships"] == [{"project": "p2", "role": "researcher"}]
            # bob cannot read alice's server either (the hub routes /user/alice to alice only).
            status, _ = await _fetch_json(bob, f"/user/alice/trevor/api/requests/{rid}")
            assert status != 200
            await _hub_tokens_outside_the_browser(live, hub)
        except BaseException:
            for pg in [pg for ctx in browser.contexts for pg in ctx.pages]:
                await pg.screenshot(path=str(ARTIFACTS / f"failure-{len(pg.url)}.png"))
            shutil.copy(hub.log, ARTIFACTS / "failure-hub.log")
            raise
        finally:
            await browser.close()


async def _hub_tokens_outside_the_browser(live: LiveBackend, hub: Hub) -> None:
    """The authenticator itself, against the same hub: any hub API token of a user names them
    (here one alice makes on the hub), a made-up token is a 401 problem+json, and trv_ API
    tokens keep working beside the hub."""
    token = await asyncio.to_thread(hub.user_token, "alice")
    me = await Client(live.url, token).get("/api/v1/users/me")
    assert me.status == 200, me.body
    assert me.json["username"] == "alice"
    assert me.json["memberships"] == [{"project": "p1", "role": "researcher"}]
    bad = await Client(live.url, "not-a-hub-token").get("/api/v1/users/me")
    assert bad.status == 401 and bad.content_type.startswith("application/problem+json")
    assert "hub does not recognise" in bad.json["detail"]
    assert (await live.client("bob").get("/api/v1/users/me")).json["username"] == "bob"
    # The hub's answers are cached (HubAuth): with the hub gone, a token it already named still
    # works; one it never saw cannot be checked (503 problem+json, not a 401 or a 500).
    await asyncio.to_thread(hub.stop)
    assert (await Client(live.url, token).get("/api/v1/users/me")).json["username"] == "alice"
    unknown = await Client(live.url, "another-hub-token").get("/api/v1/users/me")
    assert unknown.status == 503, unknown.body
    assert unknown.content_type.startswith("application/problem+json")
