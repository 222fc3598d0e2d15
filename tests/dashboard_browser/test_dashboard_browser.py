"""The admin dashboard in a real browser (Debian Chromium via Playwright) against a real backend
(in-process, loopback port), as an admin uses it: issue 12's journey, with a screenshot of each
page under test-output/dashboard/ and an axe-core accessibility check of every page (axe-core
from npm by lockfile in tests/dashboard_browser/node, installed by scripts/setup.sh)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backend.admin_world import build_world, expected_metrics, raw_events
from tests.fixtures.backend import LiveBackend
from tests.fixtures.lab import CHROMIUM, CHROMIUM_ARGS
from trevor_backend.dashboard.render import duration
from trevor_backend.services.audit_export import verify_csv
from trevor_backend.services.release_job import ReleaseJob

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "dashboard_browser" / "node" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-output" / "dashboard"

pytestmark = pytest.mark.slow


def prepare_artifacts() -> None:
    # Failures, not skips: a skipped browser test would pass for a dashboard nobody ran.
    assert Path(CHROMIUM).exists(), "the browser tests need Chromium (apt-get install chromium)"
    assert AXE.exists(), (
        "axe-core missing: scripts/setup.sh installs it (npm ci in tests/dashboard_browser/node)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # a shorter earlier run must not leave extras
        old.unlink()


def read_text(path: str | Path) -> str:
    return Path(path).read_text()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """One database for the browser journey: the API tests cover both kinds, and the journey
    is the slowest test here."""
    return f"sqlite:///{tmp_path / 'trevor.sqlite'}"


@pytest.fixture
async def page(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    prepare_artifacts()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        pg = await context.new_page()
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        # A user-provided <script> that ran would open this dialog.
        pg.on("dialog", lambda d: problems.append(f"dialog opened: {d.message}"))
        try:
            yield pg
        finally:
            await browser.close()
        assert problems == []


class Journey:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.n = 0
        self.axe_source = AXE.read_text()

    async def shot(self, name: str) -> None:
        self.n += 1
        await self.page.screenshot(
            path=str(ARTIFACTS / f"step-{self.n:02d}-{name}.png"), full_page=True
        )

    async def accessible(self) -> None:
        """axe-core on the current page: no serious or critical violation. Evaluated through
        the DevTools protocol, as the page's own CSP rightly refuses injected scripts."""
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.evaluate(self.axe_source)
        result = await self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
            "v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))})))"
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{self.page.url}: {bad}"


async def test_admin_dashboard_journey(live: LiveBackend, page: Any) -> None:
    from playwright.async_api import expect

    w = await build_world(live)
    j = Journey(page)

    # Sign in by pasting a token once.
    await page.goto(f"{live.url}/dashboard/")
    await expect(page).to_have_url(re.compile(r"/dashboard/login"))
    await j.accessible()
    await j.shot("login")
    await page.get_by_label("API token").fill(live.tokens["root"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="All requests")).to_be_visible()
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert (
        cookies["trevor_dashboard"]["httpOnly"]
        and cookies["trevor_dashboard"]["sameSite"] == "Strict"
    )

    # The overview holds requests of both projects, and shows the SLA age.
    table = page.locator("table.requests tbody")
    await expect(table.locator("tr")).to_have_count(len(w.ids))
    projects = set(await table.locator("td:nth-child(2)").all_inner_texts())
    assert projects == {"p1", "p2"}
    await expect(table.locator("tr.age-late")).to_have_count(1)
    await j.accessible()
    await j.shot("overview")

    # Live: a request opened elsewhere appears without a reload.
    await expect(page.locator("#live-status")).to_contain_text("Live")
    await live.client("alice").create_request(title="Arrived while watching")
    await expect(table).to_contain_text("Arrived while watching")

    # Filter to the stuck ones.
    await page.get_by_label("Stuck only").check()
    await page.get_by_role("button", name="Filter").click()
    await expect(table.locator("tr")).to_have_count(1)
    await expect(table).to_contain_text("Readmissions <script>alert(1)</script>")
    await j.shot("overview-stuck")

    # The stuck request's admin view: the user's <script> is text, the chain verified.
    await table.get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Readmissions <script>alert(1)</script>"
    )
    await expect(page.get_by_text("every event's hash and link verified")).to_be_visible()
    await j.accessible()
    await j.shot("request")

    # Metrics: the charts, and figures equal to those computed here from the audit log.
    await page.get_by_role("link", name="Metrics").click()
    charts = page.locator('svg.chart[role="img"]')
    await expect(charts).to_have_count(4)
    expected = expected_metrics(await raw_events(live))
    outcomes = expected["outcomes"]
    figure = page.locator("[data-figure]")
    assert await page.locator('[data-figure="decisions"]').inner_text() == str(
        outcomes["decisions"]
    )
    rate = outcomes["approved"] / outcomes["decisions"] * 100
    assert await page.locator('[data-figure="approval-rate"]').inner_text() == f"{rate:.0f} %"
    review = expected["time_to_first_review"]
    assert await page.locator('[data-figure="review-median"]').inner_text() == duration(
        review["median_seconds"]
    )
    checker_rows = await page.locator('table[data-table="checkers"] tbody tr').all_inner_texts()
    shown = {r.split("\t")[0]: (int(r.split("\t")[1]), int(r.split("\t")[2])) for r in checker_rows}
    assert shown == expected["checkers"]
    assert await figure.count() >= 10
    await j.accessible()
    await j.shot("metrics")

    # Audit: download the CSV and check its rows and chain hashes against the database.
    await page.get_by_role("link", name="Audit").click()
    await expect(page.locator("table.audit tbody tr").first).to_be_visible()
    await j.accessible()
    await j.shot("audit")
    async with page.expect_download() as info:
        await page.get_by_role("link", name=re.compile("Download CSV")).click()
    download = await info.value
    text = read_text(await download.path())
    events = await raw_events(live)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(int(r["seq"]), r["type"], r["hash"]) for r in rows] == [
        (e.seq, e.type, e.hash) for e in events if e.seq <= int(rows[-1]["seq"])
    ]
    check = verify_csv(text, complete=True)
    assert check.ok and check.rows == len(rows), check

    # Projects & members: add a checker, then be refused (inline) a researcher as checker.
    await page.get_by_role("link", name="Projects & members").click()
    p1 = page.locator('section[aria-labelledby="p-p1"]')
    await p1.get_by_label("User").select_option("bob")
    await p1.get_by_label("Role").select_option("output_checker")
    await p1.get_by_role("button", name="Save membership").click()
    await expect(page.get_by_role("status")).to_have_text("Membership saved.")
    await expect(p1.locator("tbody")).to_contain_text("bob")
    await p1.get_by_label("User").select_option("alice")
    await p1.get_by_label("Role").select_option("output_checker")
    await p1.get_by_role("button", name="Save membership").click()
    alert = page.locator('section[aria-labelledby="p-p1"] [role="alert"]')
    await expect(alert).to_contain_text("alice is researcher on project p1")
    await j.accessible()
    await j.shot("projects-conflict")

    # Ingress: open a request for a project and issue an upload link.
    await page.get_by_role("link", name="Ingress").click()
    await page.get_by_label("Project").select_option("p2")
    await page.get_by_label("Title").fill("Practice lookup table")
    await page.get_by_role("button", name="Open request").click()
    await expect(page.get_by_role("status")).to_have_text("Ingress request opened.")
    card = page.locator("section.card", has_text="Practice lookup table")
    await card.get_by_label("File name").fill("practices.csv")
    await card.get_by_label("Size (bytes)").fill("1234")
    await card.get_by_label("sha256").fill("ab" * 32)
    await card.get_by_role("button", name="Issue upload link").click()
    issued = page.locator("[data-issued]")
    await expect(issued).to_contain_text("/uploads/")
    await expect(page.locator("td.link-state")).to_have_text("awaiting upload")
    await j.accessible()
    await j.shot("ingress")

    # Attention: the parked release, retried; the release job then publishes it.
    await page.get_by_role("link", name="Attention").click()
    parked = page.locator(f'tr[data-parked="{w.revised}"]')
    await expect(parked).to_contain_text("store unavailable (test)")
    await j.accessible()
    await j.shot("attention")
    await parked.get_by_role("button", name=re.compile("Retry release")).click()
    await expect(page.get_by_role("status")).to_have_text("Release queued again.")
    await expect(page.locator(f'tr[data-parked="{w.revised}"]')).to_have_count(0)
    assert await ReleaseJob().run_once(live.backend.ctx) == 1
    state = (await live.client("root").get(f"/api/v1/requests/{w.revised}")).json["status"]
    assert state == "RELEASED"
    await j.shot("attention-retried")

    # Sign out: the session is gone.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/dashboard/login"))
    await page.goto(f"{live.url}/dashboard/metrics")
    await expect(page).to_have_url(re.compile(r"/dashboard/login"))
