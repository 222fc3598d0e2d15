"""The Airlock panel and the notebook action in a real browser (Debian Chromium via Playwright),
against a real JupyterLab (subprocess) and a real trevor backend (in-process, loopback port).

The researcher's journey of issue 6, played through the UI: run the sample notebook
(binder/demo.ipynb) in a real kernel, bundle the tagged crosstab into a request from the panel,
describe it, submit, follow the review live (agent, then two checkers through the API), read the
feedback, tag a suppressed version in the notebook, replace the object with it and resubmit; each
step is screenshotted under test-output/panel/step-*.png. Then: the cell action tags an HTML
table, the inbox receives ingress files, a released request offers its package.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_trevor import workspace as ws
from tests.backend.review_support import run_agent
from tests.fixtures.lab import CHROMIUM_ARGS, TOKEN, Lab, running_lab

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-output" / "panel"

pytestmark = pytest.mark.slow


@pytest.fixture
def lab_workspace(tmp_path: Path) -> Path:
    w = tmp_path / "workspace"
    w.mkdir()
    return w


@pytest.fixture
def lab_args() -> list[str]:
    """Extra command-line options for `jupyter lab`; tests override it."""
    return []


@pytest.fixture
async def lab(
    live: Any, labextension: Path, lab_workspace: Path, tmp_path: Path, lab_args: list[str]
) -> AsyncIterator[Lab]:
    async with running_lab(live, "alice", tmp_path, lab_workspace, lab_args) as lab:
        yield lab


@pytest.fixture
async def page(chromium: str, lab: Lab, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        # Generous: two cores shared with the rest of the suite make JupyterLab slow to load.
        context.set_default_timeout(60_000)
        # The same for assertions that wait (expect(...)), whose own default is 5 s.
        expect.set_options(timeout=60_000)
        pg = await context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield pg
            rep = getattr(request.node, "rep_call", None)
            if rep is not None and rep.failed:  # keep what the browser showed, and the lab log
                await pg.screenshot(path=str(ARTIFACTS / f"failure-{request.node.name}.png"))
                shutil.copy(lab.log, ARTIFACTS / f"failure-{request.node.name}-lab.log")
        finally:
            await browser.close()
        # An uncaught exception in our code would be a bug even if the flow looked fine.
        assert not [e for e in errors if "trevor" in e.lower()], errors


async def open_panel(page: Any, lab: Lab) -> Any:
    await page.goto(f"{lab.url}/lab?token={TOKEN}")
    tab = page.locator('.lm-TabBar-tab[data-id="trevor-airlock"]')
    await tab.wait_for(timeout=60_000)
    await tab.click()
    panel = page.locator(".trevor-panel")
    await panel.wait_for()
    return panel


def tag_table(workspace: Path, content: str = "region,n\nNorth,12\nSouth,40\n") -> None:
    src = workspace / "t.csv"
    src.write_text(content)
    ws.write_output(
        workspace,
        "counts",
        src,
        {
            "title": "Counts by region",
            "statbarn": "Frequencies",
            "justification": "Paper table 2",
            "evidence": {"cells": []},
            "report": {"status": "pass", "findings": []},
        },
    )
    src.unlink()


class Steps:
    """Numbered screenshots of a journey, one per step, kept whether the test passes or not:
    they are the record of what a researcher saw."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.n = 0
        for old in ARTIFACTS.glob("step-*.png"):  # a shorter earlier run must not leave extras
            old.unlink()

    async def shot(self, name: str) -> None:
        self.n += 1
        await self.page.screenshot(path=str(ARTIFACTS / f"step-{self.n:02d}-{name}.png"))


@pytest.fixture
def demo_notebook(lab_workspace: Path) -> str:
    """The sample notebook shipped in binder/, as a researcher finds it in their workspace."""
    shutil.copy(ROOT / "binder" / "demo.ipynb", lab_workspace / "demo.ipynb")
    return "demo.ipynb"


async def run_cell(page: Any, cell: Any) -> None:
    """Click into a cell and press Shift+Enter, as a person does; for a code cell, wait until
    the kernel has finished it (the prompt shows its execution count instead of ``[*]``)."""
    from playwright.async_api import expect

    is_code = "jp-CodeCell" in (await cell.get_attribute("class") or "")
    await cell.scroll_into_view_if_needed()
    # The editor of a code cell (edit mode), the rendered text of a markdown cell (selects it).
    target = cell.locator(".jp-InputArea-editor") if is_code else cell
    await target.click()
    await page.keyboard.press("Shift+Enter")
    if is_code:
        await expect(cell.locator(".jp-InputPrompt")).to_have_text(
            re.compile(r"\[\d+\]:"), timeout=180_000
        )
        # An error would show as output too; the journey needs every cell to succeed.
        assert await cell.locator(".jp-OutputArea-output[data-mime-type*=error]").count() == 0, (
            await cell.inner_text()
        )


# Observes, without changing it, the panel's live event stream: the stream is read through
# fetch, so a tee of its body gives the ids of the events the panel has received. Each id is
# published a frame and a task later, once React has rendered what the event caused.
SEEN_EVENTS_SCRIPT = """
(() => {
  const original = window.fetch;
  window.__trevorEventsSeen = 0;
  window.fetch = async (...args) => {
    const response = await original(...args);
    const url = String(args[0] instanceof Request ? args[0].url : args[0]);
    if (!url.includes('/trevor/events') || !response.body) {
      return response;
    }
    const [theirs, ours] = response.body.tee();
    (async () => {
      const reader = ours.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          return;
        }
        buffer += decoder.decode(value, { stream: true });
        const lines = buffer.split('\\n');
        buffer = lines.pop();
        for (const line of lines) {
          const m = /^id: *(\\d+)/.exec(line);
          if (m) {
            const id = Number(m[1]);
            requestAnimationFrame(() => setTimeout(() => {
              window.__trevorEventsSeen = Math.max(window.__trevorEventsSeen, id);
            }, 0));
          }
        }
      }
    })();
    return new Response(theirs, {
      status: response.status, statusText: response.statusText, headers: response.headers
    });
  };
})();
"""


async def caught_up(page: Any, client: Any, view: Any) -> None:
    """Wait until the panel has received every live event the backend holds for the researcher
    so far, and the open request view has loaded again after them.

    Why: the open request view reloads its data on every event about its request, and events
    arrive a second or more after the action that caused them (the stream polls the database
    every second); letting the panel catch up keeps the steps below deterministic."""
    backlog = (await client.get("/api/v1/events?follow=0&last_event_id=0")).body.decode()
    ids = [int(line[3:]) for line in backlog.splitlines() if line.startswith("id:")]
    await page.wait_for_function("n => window.__trevorEventsSeen >= n", arg=max(ids, default=0))
    await view.locator("h3 .trevor-badge").wait_for()


def text_field(page: Any, card: Any, label: str) -> Any:
    """The text area of one metadata field, by its exact label (the statbarn guidance above
    the fields mentions "justification" too)."""
    return (
        card.locator(".trevor-field")
        .filter(has=page.get_by_text(label, exact=True))
        .locator("textarea")
    )


async def test_researcher_runs_the_notebook_and_goes_through_review(
    page: Any, lab: Lab, live: Any, demo_notebook: str
) -> None:
    """Issue 6, as a researcher plays it: run the sample notebook in a real kernel, bundle the
    tagged crosstab into a request from the panel, describe it, submit, follow the review live,
    read the checkers' feedback, tag a suppressed version from the notebook, replace, resubmit."""
    from playwright.async_api import expect

    alice = live.client("alice")
    title = "Admissions by region and age band"
    steps = Steps(page)

    await page.add_init_script(SEEN_EVENTS_SCRIPT)

    # 1. The notebook, run cell by cell in its kernel through the UI.
    await page.goto(f"{lab.url}/lab/tree/{demo_notebook}?token={TOKEN}")
    # A marker that a reload or navigation would wipe: checked at the end, so every update the
    # test waits for below came to the open page (live events), not from loading it again.
    await page.evaluate("window.__trevorSamePage = true")
    notebook = page.locator(".jp-NotebookPanel")
    cells = notebook.locator(".jp-Notebook .jp-Cell")
    await cells.first.wait_for(timeout=120_000)
    await notebook.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(
        timeout=180_000
    )
    tag_cell = cells.filter(has_text="tagged = trevor.tag(")
    retag_cell = cells.filter(has_text="fixed = trevor.suppress(table)")
    later = cells.filter(has_text="After the checkers' feedback")
    # Waiting: JupyterLab fills the cells' editors in after the notebook opens.
    for cell in (cells.filter(has_text="trevor.crosstab("), tag_cell, later, retag_cell):
        await expect(cell).to_have_count(1)
    # Everything above the "after the checkers' feedback" part: that part is run later.
    first_later = await cells.evaluate_all(
        'cs => cs.findIndex(c => c.textContent.includes("After the checkers"))'
    )
    assert first_later > 0
    for i in range(first_later):
        await run_cell(page, cells.nth(i))
    tag_out = tag_cell.locator(".jp-OutputArea-output")
    await expect(tag_out).to_contain_text(re.compile(rf"Tagged {title} as \S+ v1"))
    (record,) = ws.list_outputs(lab.workspace)
    oid_ws = record["id"]
    assert record["version"] == 1 and record["metadata"]["title"] == title
    # The notebook's story: the first table fails the pre-check (islands x 65+ counts 3).
    assert record["report"]["status"] == "fail" and record["evidence"] is not None
    assert record["provenance"]["notebook_path"].endswith(demo_notebook)
    await steps.shot("notebook-run")

    # 2. The panel lists the tagged crosstab with its pre-check verdict; bundle it.
    await page.locator('.lm-TabBar-tab[data-id="trevor-airlock"]').click()
    panel = page.locator(".trevor-panel")
    await panel.wait_for()
    # The panel follows the workspace by itself: no Refresh click (issue 14).
    output = panel.locator(".trevor-output", has_text=title)
    await expect(output.locator(".trevor-badge")).to_have_text("Fail")
    await expect(output.locator(".trevor-sub")).to_contain_text(demo_notebook)
    # The path relative to the workspace, never the server's absolute path.
    assert str(lab.workspace) not in await output.inner_text()
    # Live updates are flowing before anything below depends on them.
    await panel.locator(".trevor-live-live").wait_for(timeout=120_000)
    await steps.shot("panel")

    await output.locator("input[type=checkbox]").check()
    await panel.get_by_label("New request title").fill("Paper tables")
    await panel.get_by_role("button", name="Add 1 to request").click()
    view = panel.locator(".trevor-request-view")
    status = view.locator("h3 .trevor-badge")
    await expect(status).to_have_text("Draft")
    card = view.locator(".trevor-object", has_text=title)
    await card.wait_for()
    await steps.shot("request-draft")

    # The description for the checkers, edited in the panel and saved to the backend (once the
    # events of the upload that made the request have reached the panel).
    await caught_up(page, alice, view)
    justification = "Table 1 of the paper: admissions by region and age band over the whole cohort."
    await card.get_by_text("Description for the output checkers").click()
    field = text_field(page, card, "Justification")
    await expect(field).to_have_value("Table 1 of the paper")
    await field.fill(justification)
    description = "Admissions counted once per stay, 2000 records."
    await text_field(page, card, "Description").fill(description)
    save = card.get_by_role("button", name="Save description")
    # The button is disabled while saving as well as after, so the test waits for the panel's
    # own call to the backend to be answered.
    async with page.expect_response(
        lambda r: r.request.method == "PUT" and r.url.split("?")[0].endswith("/metadata")
    ) as saved:
        await save.click()
    assert (await saved.value).status == 200
    # The save's own event rebuilds the view (description folded again): reopened, it shows the
    # stored text.
    await caught_up(page, alice, view)
    if await card.locator("details").get_attribute("open") is None:
        await card.get_by_text("Description for the output checkers").click()
    await expect(text_field(page, card, "Justification")).to_have_value(justification)
    await expect(text_field(page, card, "Description")).to_have_value(description)
    await expect(save).to_be_disabled()
    (req,) = (await alice.get("/api/v1/requests?project=p1")).json["items"]
    rid = req["id"]
    (obj,) = req["objects"]
    assert obj["metadata"]["justification"] == justification
    assert obj["metadata"]["description"] == description
    assert obj["metadata"]["statbarn"] == "Frequencies" and obj["metadata"]["title"] == title
    await steps.shot("metadata-saved")

    await view.get_by_role("button", name="Submit for review").click()
    await expect(status).to_have_text("Submitted")
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["status"] == "SUBMITTED"
    await steps.shot("submitted")

    # 3. The automatic review runs on the backend; the open view follows the relayed events.
    await run_agent(live)
    await expect(status).to_have_text("With output checkers", timeout=120_000)
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["status"] == "HUMAN_REVIEW"
    await steps.shot("human-review-live")

    # 4. Two checkers decide through the API; one asks publicly for suppression, the other approves
    # with a private note: together that is "changes requested".
    comment = "Please suppress the small cell (islands, 65+) before release."
    decisions = {
        "carol": {"decision": "changes_requested", "comment": comment, "visibility": "public"},
        "dave": {
            "decision": "approve",
            "comment": "Counts checked against the protocol.",
            "visibility": "private",
        },
    }
    for checker, decision in decisions.items():
        r = await live.client(checker).post(
            f"/api/v1/requests/{rid}/reviews",
            {
                "decision": decision["decision"],
                "summary": f"review by {checker}",
                "objects": [{"object_id": obj["id"], **decision}],
            },
        )
        assert r.status == 201, r.body
    await expect(status).to_have_text("Changes requested", timeout=120_000)
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["status"] == "CHANGES_REQUESTED"
    await expect(card.locator(".trevor-feedback")).to_contain_text(
        re.compile(rf"Checker:.*{re.escape(comment)}")
    )
    # The checkers' summaries, with the revision their round decided.
    summary = view.locator(".trevor-review-summary")
    await expect(summary).to_contain_text("Checkers' review of revision 1: changes requested")
    await expect(summary).to_contain_text("review by carol")
    await expect(summary.locator(".trevor-review-item")).to_have_count(2)
    await expect(summary.locator(".trevor-decision-ok")).to_have_count(1)  # dave approved
    # The panel alone, as docs/images/panel.png shows it in the README.
    await panel.screenshot(path=str(ARTIFACTS / "panel-feedback.png"))
    await card.get_by_text("Automatic check:").wait_for()
    # A private comment stays among the checkers.
    assert await card.get_by_text("Counts checked against the protocol.").count() == 0
    await caught_up(page, alice, view)
    await card.get_by_role("button", name="preview").click()
    await card.locator("iframe[sandbox='']").wait_for()
    await steps.shot("changes-requested")

    # 5. Back in the notebook: the cell after the feedback suppresses the cell and tags again
    # under the same id, which makes version 2.
    await run_cell(page, retag_cell)
    await expect(retag_cell.locator(".jp-OutputArea-output")).to_contain_text(
        re.compile(rf"Tagged {title} as {re.escape(oid_ws)} v2")
    )
    (record,) = ws.list_outputs(lab.workspace)
    assert (record["id"], record["version"]) == (oid_ws, 2)
    new_bytes = ws.object_path(lab.workspace, oid_ws).read_bytes()
    assert new_bytes != ws.object_path(lab.workspace, oid_ws, 1).read_bytes()
    await steps.shot("notebook-retagged")

    # The panel's list shows the new version by itself (no Refresh click): made with
    # trevor.suppress, its pre-check passes. The request's object is replaced with it and the
    # request resubmitted.
    assert record["report"]["status"] == "pass"
    await view.get_by_role("button", name="← All requests").click()
    await expect(output.locator(".trevor-sub")).to_contain_text("v2 in notebook")
    await expect(output.locator(".trevor-badge")).to_have_text("Pass")
    await (
        panel.locator(".trevor-request", has_text="Paper tables")
        .get_by_role("button", name="Paper tables")
        .click()
    )
    await expect(status).to_have_text("Changes requested")
    await caught_up(page, alice, view)
    await card.get_by_label("Replacement").select_option(oid_ws)
    await card.get_by_role("button", name="Replace").click()
    await expect(card.locator(".trevor-sub").first).to_contain_text("v2")
    await caught_up(page, alice, view)
    await expect(card.locator(".trevor-sub").first).to_contain_text("v2")
    await steps.shot("replaced")

    await view.get_by_role("button", name="Resubmit").click()
    await expect(status).to_have_text("Submitted")
    final = (await alice.get(f"/api/v1/requests/{rid}")).json
    assert final["status"] == "SUBMITTED" and final["revision"] == 2
    (current,) = final["objects"]
    assert current["version"] == 2
    stored = await alice.get(f"/api/v1/requests/{rid}/objects/{current['id']}/content")
    assert stored.body == new_bytes
    assert await page.evaluate("window.__trevorSamePage === true")
    await steps.shot("resubmitted")


async def test_tagged_output_appears_without_a_click(page: Any, lab: Lab) -> None:
    """The kernel writes the manifest itself (no signal reaches the browser): the panel's list
    follows the workspace through the server extension, with no Refresh click."""
    from playwright.async_api import expect

    panel = await open_panel(page, lab)
    outputs = panel.locator(".trevor-section", has_text="Tagged outputs")
    await expect(outputs.get_by_text("No tagged outputs yet")).to_be_visible()
    tag_table(lab.workspace)  # what trevor.tag(...) in a kernel does
    output = panel.locator(".trevor-output", has_text="Counts by region")
    await expect(output).to_be_visible()
    await expect(output.locator(".trevor-sub")).to_contain_text("v1 in notebook")
    # A second version too, still without a click.
    tag_table(lab.workspace, "region,n\nNorth,10\nSouth,40\n")
    await expect(output.locator(".trevor-sub")).to_contain_text("v2 in notebook")
    # Human times ("just now"), the full time on hover.
    when = output.locator("time.trevor-when")
    await expect(when).to_contain_text(re.compile(r"now|second|minute"))
    assert re.search(r"\d", await when.get_attribute("title") or "")
    await panel.screenshot(path=str(ARTIFACTS / "tagged-without-click.png"))


async def test_submit_needs_a_description_and_withdraw_stands_apart(
    page: Any, lab: Lab, live: Any
) -> None:
    """Checkers cannot judge an undescribed output: Submit is refused in the panel with the
    field opened; Withdraw is apart from Submit and asks first."""
    from playwright.async_api import expect

    tag_table(lab.workspace)
    alice = live.client("alice")
    panel = await open_panel(page, lab)
    await (
        panel.locator(".trevor-output", has_text="Counts by region")
        .locator("input[type=checkbox]")
        .check()
    )
    await panel.get_by_label("New request title").fill("Undescribed")
    await panel.get_by_role("button", name="Add 1 to request").click()
    view = panel.locator(".trevor-request-view")
    card = view.locator(".trevor-object", has_text="Counts by region")
    await card.wait_for()
    await view.get_by_role("button", name="Submit for review").click()
    await expect(panel.get_by_text("Describe every output for the output checkers")).to_be_visible()
    await expect(card.locator("details")).to_have_attribute("open", "")
    await expect(card.get_by_text("Required before submitting")).to_be_visible()
    (req,) = (await alice.get("/api/v1/requests?project=p1")).json["items"]
    assert req["status"] == "DRAFT"
    # Withdraw: not among the submit actions, and nothing happens without confirming.
    actions = view.locator(".trevor-actions")
    assert await actions.get_by_role("button", name=re.compile("Withdraw")).count() == 0
    withdraw = view.locator(".trevor-danger").get_by_role("button", name="Withdraw request…")
    asked: list[str] = []

    async def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await withdraw.click()
    await expect(withdraw).to_be_enabled()
    assert asked and "Withdraw this request?" in asked[0]
    assert (await alice.get(f"/api/v1/requests/{req['id']}")).json["status"] == "DRAFT"
    await page.screenshot(path=str(ARTIFACTS / "submit-needs-description.png"))


def notebook_with_table(workspace: Path) -> str:
    """Cell 1: a grouped count (an aggregate); cell 2: ``df.head()`` (individual records)."""
    rows = (
        '<table border="1" class="dataframe"><thead><tr><th></th><th>patient</th>'
        "<th>region</th></tr></thead><tbody><tr><th>0</th><td>p-001</td><td>North</td></tr>"
        "<tr><th>1</th><td>p-002</td><td>South</td></tr></tbody></table>"
    )
    html = (
        '<table border="1" class="dataframe"><thead><tr><th>region</th><th>n</th></tr></thead>'
        "<tbody><tr><td>North</td><td>12</td></tr><tr><td>South</td><td>40</td></tr></tbody>"
        "</table>"
    )
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "code",
                "id": "cell-1",
                "execution_count": 1,
                "metadata": {},
                "source": "df.groupby('region').size()",
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "execution_count": 1,
                        "metadata": {},
                        "data": {"text/html": html, "text/plain": "region n ..."},
                    }
                ],
            },
            {
                "cell_type": "code",
                "id": "cell-2",
                "execution_count": 2,
                "metadata": {},
                "source": "df.head()",
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "execution_count": 2,
                        "metadata": {},
                        "data": {"text/html": rows, "text/plain": "   patient region ..."},
                    }
                ],
            },
        ],
    }
    (workspace / "analysis.ipynb").write_text(json.dumps(nb))
    return "analysis.ipynb"


async def test_live_updates_keep_unsaved_edits(page: Any, lab: Lab, live: Any) -> None:
    """A live event about the open request reloads its data in place: what the researcher is
    typing survives (a remount of the view used to drop it)."""
    from playwright.async_api import expect

    await page.add_init_script(SEEN_EVENTS_SCRIPT)
    tag_table(lab.workspace)
    alice = live.client("alice")
    panel = await open_panel(page, lab)
    output = panel.locator(".trevor-output", has_text="Counts by region")
    await output.locator("input[type=checkbox]").check()
    await panel.get_by_label("New request title").fill("Live edits")
    await panel.get_by_role("button", name="Add 1 to request").click()
    view = panel.locator(".trevor-request-view")
    card = view.locator(".trevor-object", has_text="Counts by region")
    await card.wait_for()
    await caught_up(page, alice, view)

    await card.get_by_text("Description for the output checkers").click()
    field = text_field(page, card, "Justification")
    await field.fill("typed, not saved yet")

    # Meanwhile the request changes elsewhere (the researcher's script adds a file).
    (req,) = (await alice.get("/api/v1/requests?project=p1")).json["items"]
    assert (await alice.upload(req["id"], b"a,b\n1,2\n", "extra.csv")).status == 201
    await view.locator(".trevor-object", has_text="extra.csv").wait_for(timeout=60_000)

    await expect(field).to_have_value("typed, not saved yet")
    assert await card.locator("details").get_attribute("open") is not None
    await page.screenshot(path=str(ARTIFACTS / "live-update-keeps-edits.png"))


async def test_cell_action_tags_an_html_table(page: Any, lab: Lab) -> None:
    name = notebook_with_table(lab.workspace)
    await page.goto(f"{lab.url}/lab/tree/{name}?token={TOKEN}")
    out = page.locator(".jp-OutputArea-child").first
    await out.wait_for(timeout=60_000)
    await out.click(button="right")
    await page.locator(".lm-Menu-itemLabel", has_text="Add output to airlock").click()

    dialog = page.locator(".jp-Dialog")
    await dialog.wait_for()
    await dialog.get_by_text("CSV table").wait_for()
    # A grouped count is no row-level data: no warning (rowLevel.test.ts covers the rule).
    assert await dialog.locator(".trevor-row-level").count() == 0
    # Submitting empty shows the form's own validation instead of a server round trip.
    await dialog.get_by_role("button", name="Add to airlock").click()
    await page.locator(".jp-Dialog .trevor-field-error").first.wait_for()
    dialog = page.locator(".jp-Dialog")
    await dialog.locator(".trevor-field", has_text="Title").locator("input").fill("Regions")
    # Editing a field clears its error; the others stay until fixed.
    assert (
        await dialog.locator(".trevor-field", has_text="Title")
        .locator(".trevor-field-error")
        .count()
        == 0
    )
    assert await dialog.locator(".trevor-field-error").count() == 2
    await dialog.locator("select").select_option("Frequencies")
    await (
        dialog.locator(".trevor-field", has_text="Justification")
        .locator("textarea")
        .fill("Table 1")
    )
    await page.screenshot(path=str(ARTIFACTS / "tag-dialog.png"))
    await dialog.get_by_role("button", name="Add to airlock").click()

    await page.locator(".jp-Cell.trevor-tagged").wait_for()
    records = ws.list_outputs(lab.workspace)
    meta = [(r["metadata"]["title"], r["media_type"], r["metadata"]["statbarn"]) for r in records]
    assert meta == [("Regions", "text/csv", "Frequencies")]
    stored = (ws.output_dir(lab.workspace, records[0]["id"]) / records[0]["filename"]).read_text()
    assert stored.splitlines() == ["region,n", "North,12", "South,40"]
    assert records[0]["provenance"]["cell_id"] == "cell-1"
    # The panel (possibly collapsed after the navigation) reloaded its list on the signal.
    await page.locator(".trevor-panel .trevor-output", has_text="Regions").wait_for(
        state="attached"
    )
    await page.screenshot(path=str(ARTIFACTS / "tagged-cell.png"))

    # Records (df.head()): the dialog warns that row-level data is almost never releasable.
    rows_out = page.locator(".jp-Cell", has_text="df.head()").locator(".jp-OutputArea-child")
    await rows_out.click(button="right")
    await page.locator(".lm-Menu-itemLabel", has_text="Add output to airlock").click()
    warning = page.locator(".jp-Dialog .trevor-row-level")
    await warning.wait_for()
    assert "almost never releasable" in await warning.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "tag-dialog-row-level.png"))
    await page.locator(".jp-Dialog").get_by_role("button", name="Cancel").click()
    assert len(ws.list_outputs(lab.workspace)) == 1


async def test_inbox_receives_an_approved_ingress_file(page: Any, lab: Lab, live: Any) -> None:
    from .test_live_backend import approved_ingress

    rid = await approved_ingress(live, b"code,label\n1,alpha\n")
    panel = await open_panel(page, lab)
    inbox = panel.locator(".trevor-section", has_text="Inbox")
    await inbox.get_by_role("button", name="Check for deliveries").click()
    await panel.get_by_text("1 file(s) delivered.").wait_for()
    await inbox.get_by_role("button", name="codes.csv").click()
    # Shown in the file browser, inside the request's inbox folder.
    await page.locator(".jp-BreadCrumbs", has_text=rid[:6]).wait_for()
    await page.locator(".jp-DirListing-item", has_text="codes.csv").wait_for()
    assert (lab.workspace / "inbox" / rid / "codes.csv").read_bytes() == b"code,label\n1,alpha\n"
    await page.screenshot(path=str(ARTIFACTS / "inbox.png"))


class TestInboxTimer:
    """The server delivers on its own timer: files arrive with no panel open."""

    @pytest.fixture
    def lab_args(self) -> list[str]:
        return ["--TrevorExtensionApp.inbox_poll_interval=0.5"]

    async def test_files_arrive_without_the_panel(self, lab: Lab, live: Any) -> None:
        from .test_live_backend import approved_ingress

        rid = await approved_ingress(live, b"x,y\n1,2\n")
        target = lab.workspace / "inbox" / rid / "codes.csv"
        for _ in range(200):
            if _exists(target):
                break
            await asyncio.sleep(0.1)
        assert _read(target) == b"x,y\n1,2\n"


def _exists(path: Path) -> bool:
    return path.exists()


def _read(path: Path) -> bytes:
    return path.read_bytes()


class TestWithoutConfiguredProject:
    """No TREVOR_PROJECT: the researcher picks one of their projects for a new request."""

    @pytest.fixture
    def lab_args(self) -> list[str]:
        return ["--TrevorExtensionApp.project="]

    async def test_project_is_chosen_in_the_panel(self, page: Any, lab: Lab, live: Any) -> None:
        tag_table(lab.workspace)
        panel = await open_panel(page, lab)
        output = panel.locator(".trevor-output", has_text="Counts by region")
        await output.locator("input[type=checkbox]").check()
        chooser = panel.get_by_label("Project")
        await chooser.wait_for()
        me = (await live.client("alice").get("/api/v1/users/me")).json
        mine = sorted(m["project"] for m in me["memberships"] if m["role"] == "researcher")
        await chooser.select_option(mine[0])
        await panel.get_by_label("New request title").fill("Chosen project")
        await panel.get_by_role("button", name="Add 1 to request").click()
        await panel.locator(".trevor-request-view").get_by_text("Chosen project").wait_for()
        reqs = (await live.client("alice").get("/api/v1/requests")).json["items"]
        assert [(r["title"], r["project"]) for r in reqs] == [("Chosen project", mine[0])]


async def test_released_request_offers_the_package(page: Any, lab: Lab, live: Any) -> None:
    from tests.backend.test_release import approved_request, download
    from trevor_backend.services.release_job import ReleaseJob

    await approved_request(live, title="Released tables")
    assert await ReleaseJob().run_once(live.backend.ctx) == 1  # as the reconciler runs it
    panel = await open_panel(page, lab)
    row = panel.locator(".trevor-request", has_text="Released tables")
    await row.get_by_text("Released", exact=True).wait_for()
    await row.get_by_role("button", name="Released tables").click()
    link = panel.locator("a.trevor-download")
    await link.wait_for()
    assert "Download released package" in await link.inner_text()
    # Through the server extension (a TRE browser cannot reach the backend), as a file.
    href = await link.get_attribute("href")
    assert href and re.fullmatch(rf"({re.escape(lab.url)})?/trevor/releases/[^/]+/download", href)
    assert live.url not in await panel.inner_html()
    async with page.expect_download() as saved:
        await link.click()
    got = _read(Path(await (await saved.value).path()))
    assert got[:2] == b"PK"
    # The very bytes the backend released (independently: its signed link, and its checksum).
    (req,) = [
        r
        for r in (await live.client("alice").get("/api/v1/requests")).json["items"]
        if r["title"] == "Released tables"
    ]
    info = (await live.client("alice").get(f"/api/v1/requests/{req['id']}/release")).json
    assert hashlib.sha256(got).hexdigest() == info["sha256"]
    assert (await download(info["url"], live)).body == got
    # Nothing to change on a released request.
    view = panel.locator(".trevor-request-view")
    for name in ("Submit for review", "Resubmit", "Withdraw", "Save description"):
        assert await view.get_by_role("button", name=name).count() == 0
    await page.screenshot(path=str(ARTIFACTS / "released.png"))
