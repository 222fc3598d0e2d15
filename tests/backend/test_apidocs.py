"""Where a newcomer to the API starts: ``/api/v1/`` links, ``/api/v1/openapi.json`` and the
human API reference at ``/api/v1/docs``, which must work with no network but the backend's own
(an offline TRE): checked in Chromium with every request to another host refused and recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.backend import LiveBackend

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # Nothing here reads the database beyond authentication: SQLite only, to keep it quick.
    return f"sqlite:///{tmp_path / 'trevor.sqlite'}"


async def test_index_links_answer(live: LiveBackend) -> None:
    anon, alice = live.client(None), live.client("alice")
    for path in ("/api/v1/", "/api/v1"):
        r = await anon.get(path)
        assert r.status == 200, r.body
        assert r.content_type.startswith("application/json")
    index = r.json
    assert index["name"] == "trevor review backend" and index["api_version"] == "1"
    links = {k: v["href"] for k, v in index["links"].items()}
    assert links["openapi"] == "/api/v1/openapi.json" and links["docs"] == "/api/v1/docs"
    # Every link leads somewhere real: the public ones answer anyone, the others a user.
    for name, href in links.items():
        if name == "events":
            href += "?follow=0"
        who = anon if name in ("openapi", "docs") else alice
        assert (await who.get(href)).status == 200, (name, href)
        if who is alice:
            assert (await anon.get(href)).status == 401, href


async def test_openapi_document_is_the_checked_in_one(live: LiveBackend) -> None:
    from openapi_spec_validator import validate

    r = await live.client(None).get("/api/v1/openapi.json")
    assert r.status == 200 and r.content_type.startswith("application/json")
    served = r.json
    validate(served)
    # tests/backend/test_openapi.py keeps docs/openapi.json equal to the generator's output.
    assert served == json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert "/api/v1/docs" in served["paths"]


async def test_docs_page_loads_only_same_origin_files(live: LiveBackend) -> None:
    anon = live.client(None)
    r = await anon.get("/api/v1/docs")
    assert r.status == 200 and r.content_type.startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "http" not in csp and "default-src 'none'" in csp
    page = r.body.decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs and all(ref.startswith("/api/v1/") for ref in refs), refs
    for ref in refs:
        asset = await anon.get(ref)
        assert asset.status == 200, ref
    bundle = await anon.get("/api/v1/docs/swagger-ui-bundle.js")
    assert bundle.content_type.startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.body and len(bundle.body) > 100_000
    css = await anon.get("/api/v1/docs/swagger-ui.css")
    assert css.content_type.startswith("text/css")
    # Only the page's own files are served, nothing else from the package.
    for name in ("package.json", "..%2F..%2Fapp.py", "LICENSE", "nope.js"):
        missing = await anon.get(f"/api/v1/docs/{name}")
        assert missing.status == 404, name
        assert missing.content_type.startswith("application/problem+json")


@pytest.fixture
def chromium() -> str:
    # A failure, not a skip: a skipped browser test would pass for a page nobody loaded.
    assert Path(CHROMIUM).exists(), "the browser tests require Chromium (scripts/setup.sh)"
    return CHROMIUM


@pytest.mark.slow
async def test_docs_page_renders_offline_in_a_browser(
    live: LiveBackend, chromium: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    elsewhere: list[str] = []

    async def offline(route: Any) -> None:
        url = route.request.url
        if url.startswith(live.url + "/"):
            await route.continue_()
        else:  # what a TRE's firewall would do; recorded so the test can say what was tried
            elsewhere.append(url)
            await route.abort()

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = await browser.new_page()
            page.set_default_timeout(60_000)
            await page.route("**/*", offline)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{live.url}/api/v1/docs")
            await page.locator(".swagger-ui .info .title").wait_for()
            assert "trevor review backend" in await page.locator(".info .title").inner_text()
            # Every operation of the API is listed, e.g. submitting a request.
            submit = page.locator(".opblock", has_text="/api/v1/requests/{rid}/submit")
            await submit.first.wait_for()
            count = await page.locator(".opblock").count()
            document = (await live.client(None).get("/api/v1/openapi.json")).json
            operations = sum(len(item) for item in document["paths"].values())
            assert count == operations
            await page.screenshot(path=str(tmp_path / "apidocs.png"))
        finally:
            await browser.close()
    assert elsewhere == [] and errors == []


async def test_only_answers_a_client_may_keep_carry_an_etag(live: LiveBackend) -> None:
    """API answers are ``no-store``, so none is revalidated and none is hashed for an ETag;
    the docs' files, which a browser keeps for a day, keep theirs and answer 304 to it."""
    alice = live.client("alice")
    for path in ("/api/v1/requests", "/api/v1/", "/api/v1/openapi.json"):
        r = await alice.get(path)
        assert r.status == 200 and r.headers.get("Cache-Control") == "no-store", path
        assert "Etag" not in r.headers, path
    asset = await alice.get("/api/v1/docs/init.js")
    assert asset.status == 200 and asset.headers["Cache-Control"].startswith("public")
    tag = asset.headers["Etag"]
    again = await alice.get("/api/v1/docs/init.js", headers={"If-None-Match": tag})
    assert again.status == 304 and again.body == b""
