"""The output checkers' review in the Airlock panel (issue 9), in a real browser (Debian Chromium
via Playwright) against real JupyterLabs (one per user, subprocesses) and a real trevor backend.

Each step of the two-checker journey is screenshotted under test-output/review/. Blinding is
checked the way a curious checker would probe it: what the page shows and every byte the page
received from the server. Accessibility is checked with axe-core (from npm, injected into the
page). The large-request test prints how long the review view takes to open (a benchmark
figure, not an assertion).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from jupyter_trevor import workspace as ws
from tests.backend.review_support import FAILING, PASSING, add_table, crosstab, run_agent
from tests.fixtures.lab import CHROMIUM_ARGS, TOKEN, Lab, running_lab

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-output" / "review"
AXE = ROOT / "labextension" / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = pytest.mark.slow

# Everything the page receives from the Jupyter server through fetch (the only way the
# extension talks to it), streamed bodies included: the record the blinding test searches.
RECEIVED_SCRIPT = """
(() => {
  const original = window.fetch;
  window.__trevorReceived = [];
  window.__trevorBodies = [];
  window.__trevorUrls = [];
  window.fetch = async (...args) => {
    const response = await original(...args);
    const url = String(args[0] instanceof Request ? args[0].url : args[0]);
    if (!url.includes('/trevor/') || !response.body) {
      return response;
    }
    window.__trevorUrls.push(url);
    const [theirs, ours] = response.body.tee();
    (async () => {
      const reader = ours.getReader();
      const decoder = new TextDecoder();
      let whole = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          window.__trevorBodies.push({ url, text: whole });
          return;
        }
        const text = decoder.decode(value, { stream: true });
        whole += text;
        window.__trevorReceived.push(text);
      }
    })();
    return new Response(theirs, {
      status: response.status, statusText: response.statusText, headers: response.headers
    });
  };
})();
"""


class Steps:
    """Numbered screenshots of the journey, whichever browser each step happened in."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("step-*.png"):
            old.unlink()
        self.n = 0

    async def shot(self, page: Any, name: str) -> None:
        self.n += 1
        await page.screenshot(path=str(self.folder / f"step-{self.n:02d}-{name}.png"))


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        # Generous: two cores shared with the rest of the suite make JupyterLab slow to load.
        expect.set_options(timeout=60_000)
        try:
            yield b
        finally:
            await b.close()


Opener = Callable[[Lab], Awaitable[Any]]


@pytest.fixture
async def open_page(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[Opener]:
    """Opens a user's JupyterLab in a browser context of its own (its own storage); keeps a
    screenshot and the lab log of each page when the test fails; fails on uncaught errors."""
    pages: list[tuple[Any, Lab, list[str]]] = []

    async def opener(lab: Lab) -> Any:
        context = await browser.new_context(viewport={"width": 1600, "height": 1000})
        context.set_default_timeout(60_000)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.add_init_script(RECEIVED_SCRIPT)
        pages.append((page, lab, errors))
        return page

    yield opener
    rep = getattr(request.node, "rep_call", None)
    for page, lab, errors in pages:
        if rep is not None and rep.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = f"failure-{request.node.name}-{lab.user}"
            await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
            (ARTIFACTS / f"{name}-lab.log").write_bytes(lab.log.read_bytes())
        assert not [e for e in errors if "trevor" in e.lower()], errors


async def open_panel(page: Any, lab: Lab) -> Any:
    await page.goto(f"{lab.url}/lab?token={TOKEN}")
    tab = airlock_tab(page)
    await tab.wait_for(timeout=120_000)
    await tab.click()
    panel = page.locator(".trevor-panel")
    await panel.wait_for()
    return panel


def objects_of(view: Any) -> Any:
    """The review view's object list (the form's selects have options too)."""
    return view.locator(".trevor-review-objects")


def airlock_tab(page: Any) -> Any:
    return page.locator('.lm-TabBar-tab[data-id="trevor-airlock"]')


async def open_review(page: Any, title: str) -> tuple[Any, float]:
    """Open the request from the queue; returns the view and the seconds until its first
    object and the automatic report were rendered."""
    queue = page.locator(".trevor-review-queue")
    start = await page.evaluate("performance.now()")
    await queue.get_by_role("button", name=title).click()
    view = page.locator(".trevor-review", has=page.locator("h2", has_text=title))
    await view.locator(".trevor-rendered table, .trevor-rendered iframe").first.wait_for()
    # …and the automatic report beside it (the highlights come from it).
    await view.locator(".trevor-review-head .trevor-badge").wait_for()
    elapsed = (await page.evaluate("performance.now()") - start) / 1000
    return view, elapsed


async def received(page: Any) -> str:
    # A frame and a task for the tee'd readers to have pushed what arrived.
    await page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
    return "".join(await page.evaluate("window.__trevorReceived"))


async def axe_violations(page: Any, selector: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations within ``selector``."""
    assert AXE.exists(), "axe-core is a devDependency of labextension (jlpm install)"
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "sel => axe.run(document.querySelector(sel), {resultTypes: ['violations']})", selector
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def decide(
    view: Any, name: str, decision: str, comment: str = "", private: bool = False
) -> None:
    """Select the object by name in the list, decide with the mouse, fill in the comment."""
    await objects_of(view).get_by_role("option").filter(has_text=name).click()
    await view.get_by_role("radio", name=re.compile(f"^{decision}")).click()
    if comment:
        await view.get_by_label("Comment", exact=True).fill(comment)
    if private:
        await view.get_by_label("Who sees the comment").select_option("private")


async def submitted_request(live: Any, title: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A request by alice in HUMAN_REVIEW: a crosstab with a cell below the threshold and a
    text note, both described, evidence attached, the agent's report in."""
    alice = live.client("alice")
    req = await alice.create_request("p1", title)
    rid = req["id"]
    table = await add_table(alice, rid, FAILING, "admissions.csv", title="Admissions by region")
    described = await alice.put(
        f"/api/v1/requests/{rid}/objects/{table['id']}/metadata",
        {"description": "Admissions counted once per stay, by region and sex."},
    )
    assert described.status == 200, described.body
    table = described.json
    up = await alice.upload(
        rid, b"Method: counts of admissions per region and sex.\n", "method.txt"
    )
    assert up.status == 201, up.body
    note = await alice.put(
        f"/api/v1/requests/{rid}/objects/{up.json['id']}/metadata",
        {
            "title": "Method note",
            "statbarn": "Shape",
            "description": "How table 1 was counted.",
            "justification": "explains table 1",
        },
    )
    assert note.status == 200, note.body
    sub = await alice.post(f"/api/v1/requests/{rid}/submit", {})
    assert sub.status == 200, sub.body
    await run_agent(live)
    got = await alice.get(f"/api/v1/requests/{rid}")
    assert got.json["status"] == "HUMAN_REVIEW", got.json
    return rid, table, note.json


async def status_of(live: Any, rid: str) -> str:
    return (await live.client("alice").get(f"/api/v1/requests/{rid}")).json["status"]


async def test_checker_reviews_in_the_panel(
    live: Any, labextension: Path, open_page: Opener, tmp_path: Path
) -> None:
    """Issue 9's journey: two checkers, each in their own JupyterLab, review a request whose
    table has a failing cell; the first requests changes (public and private comments), the
    second approves; the researcher sees only the public comment, replaces the table and
    resubmits; the first checker reads the diff against what they reviewed and approves."""
    from playwright.async_api import expect

    steps = Steps(ARTIFACTS)
    title = "Admissions tables"
    public = "Cell south/f is below 10: please round or suppress it."
    private = "Checked the method note against the protocol; fine."
    rid, table, _ = await submitted_request(live, title)

    async with AsyncExitStack() as stack:
        alice_lab, carol_lab, dave_lab = await asyncio.gather(
            *(
                stack.enter_async_context(running_lab(live, u, tmp_path / u))
                for u in ("alice", "carol", "dave")
            )
        )
        carol, dave, alice = [await open_page(lab) for lab in (carol_lab, dave_lab, alice_lab)]

        # 1. The first checker: a badge on the Airlock tab, the request in the queue.
        carol_panel = await open_panel(carol, carol_lab)
        await expect(airlock_tab(carol)).to_have_attribute("data-trevor-queue", "1")
        item = carol_panel.locator(".trevor-queue-item", has_text=title)
        await expect(item).to_contain_text("revision 1")
        await expect(item).to_contain_text("reviews 0/2")
        await expect(item.locator(".trevor-badge")).to_have_text("Fail")
        await steps.shot(carol, "queue-carol")

        # 2. The split-pane view: the failing cell highlighted, provenance, the agent's findings.
        view, seconds = await open_review(carol, title)
        print(f"\nreview view opened in {seconds:.3f} s (2 objects, small table)")
        flagged = view.locator("td.trevor-cell-fail")
        await expect(flagged).to_have_count(1)
        await expect(flagged).to_have_text("3")
        await expect(flagged).to_have_attribute("data-position", "1,0")
        await expect(objects_of(view).get_by_role("option")).to_have_count(2)
        side = view.locator(".trevor-review-side")
        await expect(side).to_contain_text("threshold")
        await expect(view.locator(".trevor-review-centre")).to_contain_text("bound to this file")
        await steps.shot(carol, "review-view-failing-cell")
        violations = await axe_violations(carol, ".trevor-review")
        assert violations == [], json.dumps(violations, indent=1)

        # 3. Keyboard: c requests changes on the table; a comment; j moves to the note.
        await objects_of(view).get_by_role("option").filter(has_text="Admissions by region").click()
        await carol.keyboard.press("c")
        await expect(
            view.get_by_role("radio", name=re.compile("^Request changes"))
        ).to_have_attribute("aria-checked", "true")
        await view.get_by_label("Comment", exact=True).fill(public)
        # The draft survives closing the view (JupyterLab's state database).
        await carol.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").click()
        await expect(view).to_have_count(0)
        view, _ = await open_review(carol, title)
        await expect(view.get_by_label("Comment", exact=True)).to_have_value(public)
        await objects_of(view).get_by_role("option").filter(has_text="Admissions by region").click()
        await carol.keyboard.press("j")
        await expect(objects_of(view).get_by_role("option", selected=True)).to_contain_text(
            "Method note"
        )
        await carol.keyboard.press("a")
        await view.get_by_label("Comment", exact=True).fill(private)
        await view.get_by_label("Who sees the comment").select_option("private")
        await view.get_by_label("Summary (the researcher sees it once the round closes)").fill(
            "One cell to protect."
        )
        await steps.shot(carol, "decision-form")
        await view.get_by_label("Comment", exact=True).press("Control+Enter")
        await expect(view.locator(".trevor-submitted")).to_contain_text("Your review is in")
        await expect(view.locator(".trevor-submitted")).to_contain_text("None yet.")
        await expect(airlock_tab(carol)).not_to_have_attribute("data-trevor-queue", re.compile("."))
        await steps.shot(carol, "carol-submitted")

        # 4. The second checker sees nothing of the first review before submitting theirs.
        dave_panel = await open_panel(dave, dave_lab)
        await expect(dave_panel.locator(".trevor-queue-item", has_text=title)).to_contain_text(
            "reviews 1/2"
        )
        dview, _ = await open_review(dave, title)
        await expect(dview.locator("td.trevor-cell-fail")).to_have_count(1)
        for secret in (public, private, "One cell to protect."):
            assert secret not in await dave.content()
            assert secret not in await received(dave)
        # A submission without decisions is refused in the form, not sent.
        await dview.get_by_role("button", name="Submit review").click()
        await expect(dview.locator(".trevor-submit-error")).to_contain_text("needs a decision")
        await decide(dview, "Admissions by region", "Approve")
        await decide(dview, "Method note", "Approve")
        await steps.shot(dave, "dave-before-submit")
        await dview.get_by_role("button", name="Submit review").click()
        # After both reviews, both are shown (checkers see each other's private comments).
        others = dview.locator(".trevor-submitted")
        await expect(others).to_contain_text(public)
        await expect(others).to_contain_text(private)
        await steps.shot(dave, "dave-sees-both-reviews")
        assert await status_of(live, rid) == "CHANGES_REQUESTED"

        # 5. The researcher: changes requested, with the public comment only.
        # The researcher has tagged a rounded table in the workspace meanwhile (the kernel API
        # writes the same record; the panel test plays that part in a notebook).
        data, evidence = crosstab(PASSING)
        src = alice_lab.workspace / "rounded.csv"
        src.write_bytes(data)
        ws.write_output(
            alice_lab.workspace,
            "rounded",
            src,
            {
                "title": "Admissions by region (fixed)",
                "statbarn": "Frequencies",
                "description": "Admissions by region and sex; the small cell no longer is.",
                "evidence": evidence,
            },
        )
        src.unlink()
        alice_panel = await open_panel(alice, alice_lab)
        assert await alice_panel.locator(".trevor-review-queue").count() == 0  # not a checker
        await alice_panel.get_by_role("button", name=title).click()
        rview = alice_panel.locator(".trevor-request-view")
        await expect(rview.locator("h3 .trevor-badge")).to_have_text("Changes requested")
        await expect(rview.locator(".trevor-feedback")).to_contain_text(public)
        assert private not in await alice.content()
        assert private not in await received(alice)
        await steps.shot(alice, "researcher-changes-requested")

        # (Every card's replacement list names the tagged output: pick the table's card by title.)
        card = rview.locator(".trevor-object").filter(
            has=alice.locator(".trevor-title", has_text=re.compile("^Admissions by region$"))
        )
        replacement = card.get_by_label("Replacement")
        await expect(replacement.locator("option", has_text="fixed")).to_have_count(1)
        option = await replacement.locator("option", has_text="fixed").get_attribute("value")
        await replacement.select_option(option)
        await card.get_by_role("button", name="Replace").click()
        await expect(rview.locator(".trevor-object", has_text="v2")).to_have_count(1)
        await rview.get_by_role("button", name="Resubmit").click()
        await expect(rview.locator("h3 .trevor-badge")).not_to_have_text("Changes requested")
        await steps.shot(alice, "researcher-resubmitted")
        await run_agent(live)
        assert await status_of(live, rid) == "HUMAN_REVIEW"

        # 6. The first checker: the badge comes back live; the diff against what they reviewed.
        await expect(airlock_tab(carol)).to_have_attribute("data-trevor-queue", "1")
        await expect(carol_panel.locator(".trevor-queue-item", has_text=title)).to_contain_text(
            "revision 2"
        )
        view = carol.locator(".trevor-review", has=carol.locator("h2", has_text=title))
        await expect(view.locator(".trevor-review-head")).to_contain_text("revision 2")
        await objects_of(view).get_by_role("option").filter(has_text="Admissions by region").click()
        await expect(view.locator(".trevor-object-title")).to_contain_text("v2")
        await expect(view.locator("td.trevor-cell-fail")).to_have_count(0)
        await view.get_by_role("button", name="Show changes since the version you last saw").click()
        diff = view.locator(".trevor-diff")
        await expect(diff).to_contain_text("Changes since v1")
        changed = diff.locator("tbody tr")
        await expect(changed).to_have_count(1)
        await expect(changed).to_contain_text("south")
        await expect(changed.locator(".trevor-diff-del")).to_have_text("3")
        await expect(changed.locator(".trevor-diff-add")).to_have_text("12")
        await steps.shot(carol, "diff-since-reviewed-version")
        await carol.keyboard.press("a")
        await objects_of(view).get_by_role("option").filter(has_text="Method note").click()
        await carol.keyboard.press("a")
        await expect(
            objects_of(view).get_by_role("option").filter(has_text="Approve")
        ).to_have_count(2)
        await carol.keyboard.press("Control+Enter")
        await expect(view.locator(".trevor-submitted")).to_contain_text("Your review is in")

        # The second checker approves too (through the API: the UI path is shown above).
        dave_api = live.client("dave")
        current = (await dave_api.get(f"/api/v1/requests/{rid}")).json["objects"]
        body = {
            "decision": "approve",
            "summary": "fixed",
            "objects": [
                {"object_id": o["id"], "decision": "approve"}
                for o in current
                if o["state"] not in ("superseded", "withdrawn")
            ],
        }
        r = await dave_api.post(f"/api/v1/requests/{rid}/reviews", body)
        assert r.status == 201, r.body
        assert await status_of(live, rid) == "APPROVED"
        await expect(view.locator(".trevor-review-head")).to_contain_text("APPROVED")
        await steps.shot(carol, "approved")
    assert table["id"]


async def test_second_checker_sees_nothing_of_the_first_review(
    live: Any, labextension: Path, open_page: Opener, tmp_path: Path
) -> None:
    """Blinding, probed as a curious second checker would: with the first review in, neither
    the page nor anything the page received holds its decisions, comments or summary; a second
    submission is refused inline (409), and only after their own review do they see the other."""
    from playwright.async_api import expect

    title = "Blinded request"
    rid, table, note = await submitted_request(live, title)
    marker_public = "PUBLIC-7f3a: round the south row"
    marker_private = "PRIVATE-91bc: researcher asked twice before"
    marker_summary = "SUMMARY-55d0"
    carol = live.client("carol")
    r = await carol.post(
        f"/api/v1/requests/{rid}/reviews",
        {
            "decision": "changes_requested",
            "summary": marker_summary,
            "objects": [
                {
                    "object_id": table["id"],
                    "decision": "changes_requested",
                    "comment": marker_public,
                },
                {
                    "object_id": note["id"],
                    "decision": "approve",
                    "comment": marker_private,
                    "visibility": "private",
                },
            ],
        },
    )
    assert r.status == 201, r.body
    markers = (marker_public, marker_private, marker_summary)

    async with running_lab(live, "dave", tmp_path / "dave") as lab:
        page = await open_page(lab)
        await open_panel(page, lab)
        view, _ = await open_review(page, title)
        await decide(view, "Admissions by region", "Approve")
        await decide(view, "Method note", "Approve")
        dom = await page.content()
        seen = await received(page)
        urls = await page.evaluate("window.__trevorUrls")
        for m in markers:
            assert m not in dom, m
            assert m not in seen, m
        # What the view asked for: the request, its objects and the blinded review list; no
        # request names the other review.
        review_id = r.json["review"]["id"]
        assert review_id not in seen
        # The review lists the page received hold no review but the caller's own (none yet):
        # carol's decisions never reached the browser (the API's count of hidden reviews
        # does, and the view does not show it).
        bodies = await page.evaluate("window.__trevorBodies")
        lists = [
            json.loads(b["text"]) for b in bodies if b["url"].split("?")[0].endswith("/reviews")
        ]
        assert lists, [b["url"] for b in bodies]
        for listed in lists:
            assert listed["items"] == [], listed
        assert not [u for u in urls if review_id in u], urls
        assert f"/trevor/api/requests/{rid}/reviews" in " ".join(urls)

        # A submission the backend refuses is shown next to the form, never swallowed: here
        # the researcher withdrew the request while the checker was deciding (409).
        withdrawn = await live.client("alice").post(f"/api/v1/requests/{rid}/withdraw", {})
        assert withdrawn.status == 200, withdrawn.body
        await expect(view.locator(".trevor-review-head")).to_contain_text("WITHDRAWN")
        await view.get_by_role("button", name="Submit review").click()
        error = view.locator(".trevor-submit-error")
        await expect(error).to_contain_text("WITHDRAWN")
        # The draft is still there to read after the refusal.
        await expect(
            objects_of(view).get_by_role("option").filter(has_text="Approve")
        ).to_have_count(2)


async def test_review_view_of_a_large_request(
    live: Any, labextension: Path, open_page: Opener, tmp_path: Path
) -> None:
    """200 objects and a 5,000-cell table: the queue and view stay usable; the time to open the
    view is printed (a benchmark figure: one run on a shared machine is not a timing test)."""
    from playwright.async_api import expect

    alice = live.client("alice")
    title = "Large request"
    req = await alice.create_request("p1", title)
    rid = req["id"]
    rows = ["region," + ",".join(f"c{j}" for j in range(10))]
    rows += [f"r{i}," + ",".join(str(20 + (i * j) % 7) for j in range(10)) for i in range(500)]
    big = ("\n".join(rows) + "\n").encode()
    up = await alice.upload(rid, big, "big.csv")
    assert up.status == 201, up.body
    await alice.put(
        f"/api/v1/requests/{rid}/objects/{up.json['id']}/metadata",
        {"title": "A 000 big table", "statbarn": "Frequencies", "justification": "x"},
    )

    async def small(i: int) -> None:
        u = await alice.upload(rid, f"note {i}\n".encode(), f"note{i:03d}.txt")
        assert u.status == 201, u.body
        m = await alice.put(
            f"/api/v1/requests/{rid}/objects/{u.json['id']}/metadata",
            {"title": f"Note {i:03d}", "statbarn": "Shape", "justification": "x"},
        )
        assert m.status == 200, m.body

    for start in range(0, 199, 20):
        await asyncio.gather(*(small(i) for i in range(start, min(start + 20, 199))))
    assert (await alice.post(f"/api/v1/requests/{rid}/submit", {})).status == 200
    await run_agent(live)

    async with running_lab(live, "carol", tmp_path / "carol") as lab:
        page = await open_page(lab)
        await open_panel(page, lab)
        # The first object in the list is the big table (it was uploaded first).
        view, seconds = await open_review(page, title)
        await expect(objects_of(view).get_by_role("option")).to_have_count(200)
        await expect(view.locator(".trevor-table caption")).to_contain_text("500 rows")
        print(f"\nreview view of 200 objects / 5,000-cell table opened in {seconds:.3f} s")
        # Moving through the list with the keyboard stays responsive.
        await objects_of(view).get_by_role("option").first.click()
        start = await page.evaluate("performance.now()")
        for _ in range(20):
            await page.keyboard.press("j")
        await expect(objects_of(view).get_by_role("option", selected=True)).to_contain_text("Note")
        moved = (await page.evaluate("performance.now()") - start) / 1000
        print(f"20 presses of j through 200 objects: {moved:.3f} s")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "large-request.png"))
