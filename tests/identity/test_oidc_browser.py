"""Dashboard login through the real OpenID provider, in Chromium: the dashboard's login page
offers the provider; the provider's own login and consent pages are clicked through; the
browser lands on the dashboard as that user, holding an HttpOnly SameSite session cookie; logout
ends the session here and at the provider (RP-initiated logout)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.backend import LiveBackend
from tests.fixtures.lab import CHROMIUM_ARGS
from tests.identity.provider import OIDCProvider
from trevor_backend.orm import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-output" / "oidc-login"

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'trevor.sqlite'}"  # about the way in, not the database


async def _sign_in(page: Any, live: LiveBackend, user: str) -> None:
    await page.goto(f"{live.url}/dashboard/")
    await page.wait_for_url("**/dashboard/login**")  # not signed in: the dashboard's login page
    await page.get_by_role("link", name="Sign in with your organisation").click()
    # The provider's own pages: sign in, then consent.
    await page.locator("input[name=login]").fill(user)
    await page.locator("input[name=password]").fill("a password")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()


async def test_dashboard_login_through_the_provider(
    login_world: tuple[LiveBackend, OIDCProvider], chromium: str
) -> None:
    from playwright.async_api import async_playwright, expect

    live, provider = login_world
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        context.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        page = await context.new_page()
        try:
            await _sign_in(page, live, "root")
            await page.wait_for_url(f"{live.url}/dashboard/")
            await expect(page.locator("form.logout strong")).to_have_text("root")
            await page.screenshot(path=str(ARTIFACTS / "signed-in.png"))

            cookies = {c["name"]: c for c in await context.cookies(live.url)}
            session = cookies["trevor_session"]
            assert session["httpOnly"] and session["sameSite"] == "Lax"
            assert "root" not in session["value"]  # a signed user id, not a name or a token
            assert not [c for c in cookies if "oidc_flow" in c]  # the flow's secrets are gone

            # The API never takes the cookie: bearer credentials only (no CSRF surface).
            api = await page.request.get(f"{live.url}/api/v1/users/me")
            assert api.status == 401

            async with live.backend.ctx.sessions() as s:
                login = await s.scalar(select(AuditEvent).where(AuditEvent.type == "user.login"))
            assert login is not None and login.actor == "root"
            assert login.payload["auth_method"] == "oidc"
            assert login.payload["issuer"] == provider.issuer

            # Sign out: the dashboard's button ends the session here and at the provider.
            await page.get_by_role("button", name="Sign out").click()
            await page.wait_for_url(f"{provider.issuer}/session/end**")
            await page.get_by_role("button", name="Yes, sign me out").click()
            await page.wait_for_url("**/dashboard/login**")
            assert "trevor_session" not in {c["name"] for c in await context.cookies(live.url)}
            await page.goto(f"{live.url}/dashboard/")
            await page.wait_for_url("**/dashboard/login**")
            # The provider's session ended too: signing in again asks for the login again.
            await page.get_by_role("link", name="Sign in with your organisation").click()
            await expect(page.locator("input[name=login]")).to_be_visible()

            # A researcher who signs in at the provider is not let into the admin dashboard.
            other = await (await browser.new_context()).new_page()
            await _sign_in(other, live, "alice")
            await expect(other.get_by_text("the dashboard is for admins")).to_be_visible()
            await expect(other.get_by_text("All requests")).to_have_count(0)
        except BaseException:
            await page.screenshot(path=str(ARTIFACTS / "failure.png"))
            shutil.copy(provider.workdir / "provider-key-1.log", ARTIFACTS / "provider.log")
            raise
        finally:
            await browser.close()
