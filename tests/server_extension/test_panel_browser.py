"""The Airlock panel and the notebook action in a real browser (Debian Chromium via Playwright),
against a real JupyterLab (subprocess) and a real trevor backend (in-process, loopback port).

A researcher: opens the panel, sees a tagged output with its pre-check verdict, bundles it into
a new request, submits it; then tags an HTML table from a notebook output with the cell action.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_trevor import workspace as ws
from tests.backend.review_support import run_agent

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TOKEN = "browser-test-token"
ARTIFACTS = ROOT / "test-output" / "panel"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_lab(
    port: int, root: Path, env: dict[str, str], log: Path, extra: list[str]
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                f"--port={port}",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={TOKEN}",
                "--ServerApp.allow_root=True",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.jpserver_extensions={'jupyter_trevor': True, 'jupyterlab': True}",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *extra,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@dataclass
class Lab:
    url: str
    workspace: Path
    log: Path


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
    port = _free_port()
    cfg = tmp_path / "jupyter-config"
    cfg.mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(cfg),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "TREVOR_BACKEND_URL": live.url,
        "TREVOR_TOKEN": live.tokens["alice"],
        "TREVOR_PROJECT": "p1",
    }
    log = tmp_path / "lab.log"
    proc = _start_lab(port, lab_workspace, env, log, lab_args)
    url = f"http://127.0.0.1:{port}"
    try:
        from tornado.httpclient import AsyncHTTPClient

        client = AsyncHTTPClient()
        deadline = time.monotonic() + 90
        while True:
            try:
                r = await client.fetch(f"{url}/trevor/version?token={TOKEN}", raise_error=False)
                if r.code == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("jupyter lab did not start:\n" + log.read_text()[-3000:])
            await asyncio.sleep(0.5)
        yield Lab(url, lab_workspace, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
async def page(lab: Lab, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        # Generous: two cores shared with the rest of the suite make JupyterLab slow to load.
        context.set_default_timeout(60_000)
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


async def test_researcher_bundles_and_submits(page: Any, lab: Lab, live: Any) -> None:
    tag_table(lab.workspace)
    panel = await open_panel(page, lab)
    output = panel.locator(".trevor-output", has_text="Counts by region")
    await output.wait_for()
    assert await output.locator(".trevor-verdict-pass").inner_text() == "Pass"
    await page.screenshot(path=str(ARTIFACTS / "panel.png"))

    await output.locator("input[type=checkbox]").check()
    await panel.get_by_label("New request title").fill("Paper tables")
    await panel.get_by_role("button", name="Add 1 to request").click()

    view = panel.locator(".trevor-request-view")
    await view.wait_for()
    await view.get_by_text("Draft").first.wait_for()
    await view.locator(".trevor-object", has_text="Counts by region").wait_for()
    await page.screenshot(path=str(ARTIFACTS / "request-draft.png"))

    await view.get_by_role("button", name="Submit for review").click()
    await view.locator(".trevor-status-info").first.wait_for()  # Submitted / under review
    reqs = (await live.client("alice").get("/api/v1/requests?project=p1")).json["items"]
    assert [(r["title"], r["status"] != "DRAFT") for r in reqs] == [("Paper tables", True)]
    rid = reqs[0]["id"]
    assert reqs[0]["objects"][0]["metadata"]["statbarn"] == "Frequencies"

    # Back in the list, status changes arrive live (backend SSE relayed by the extension):
    # the agent review runs, then two checkers ask for changes with a public comment.
    await view.get_by_role("button", name="← All requests").click()
    row = panel.locator(".trevor-request", has_text="Paper tables")
    await run_agent(live)
    await row.get_by_text("With output checkers").wait_for()
    oid = reqs[0]["objects"][0]["id"]
    for checker in ("carol", "dave"):
        r = await live.client(checker).post(
            f"/api/v1/requests/{rid}/reviews",
            {
                "decision": "changes_requested",
                "summary": "nearly",
                "objects": [
                    {
                        "object_id": oid,
                        "decision": "changes_requested",
                        "comment": f"Round to 5 ({checker})",
                        "visibility": "public",
                    }
                ],
            },
        )
        assert r.status == 201, r.body
    await row.get_by_text("Changes requested").wait_for()
    await page.screenshot(path=str(ARTIFACTS / "changes-requested-live.png"))

    # The researcher reads the feedback, tags a corrected version, replaces and resubmits.
    tag_table(lab.workspace, "region,n\nNorth,10\nSouth,40\n")
    await panel.get_by_role("button", name="Refresh").first.click()
    await row.get_by_role("button", name="Paper tables").click()
    view = panel.locator(".trevor-request-view")
    card = view.locator(".trevor-object", has_text="Counts by region")
    await card.get_by_text("Round to 5 (carol)").wait_for()
    await card.get_by_text("Automatic check:").wait_for()
    await card.get_by_role("button", name="preview").click()
    await card.locator("iframe[sandbox='']").wait_for()
    await page.screenshot(path=str(ARTIFACTS / "feedback.png"))
    await card.get_by_label("Replacement").select_option("counts")
    await card.get_by_role("button", name="Replace").click()
    await view.locator(".trevor-object", has_text="v2").wait_for()
    await view.get_by_role("button", name="Resubmit").click()
    await view.locator(".trevor-status-info").first.wait_for()
    final = (await live.client("alice").get(f"/api/v1/requests/{rid}")).json
    assert final["status"] == "SUBMITTED" and final["revision"] == 2
    assert [o["version"] for o in final["objects"]] == [2]
    stored = await live.client("alice").get(
        f"/api/v1/requests/{rid}/objects/{final['objects'][0]['id']}/content"
    )
    assert stored.body == b"region,n\nNorth,10\nSouth,40\n"
    await page.screenshot(path=str(ARTIFACTS / "resubmitted.png"))


def notebook_with_table(workspace: Path) -> str:
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
            }
        ],
    }
    (workspace / "analysis.ipynb").write_text(json.dumps(nb))
    return "analysis.ipynb"


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
    from trevor_backend.services.release import ReleaseJob

    await approved_request(live, title="Released tables")
    assert await ReleaseJob().run_once(live.backend.ctx) == 1  # as the reconciler runs it
    panel = await open_panel(page, lab)
    row = panel.locator(".trevor-request", has_text="Released tables")
    await row.get_by_text("Released", exact=True).wait_for()
    await row.get_by_role("button", name="Released tables").click()
    link = panel.locator("a.trevor-download")
    await link.wait_for()
    assert "Download released package" in await link.inner_text()
    href = await link.get_attribute("href")
    assert href and await link.get_attribute("rel") == "noopener noreferrer"
    crate = await download(href, live)  # the signed link works without any token
    assert crate.status == 200 and crate.body[:2] == b"PK"
    # Nothing to change on a released request.
    view = panel.locator(".trevor-request-view")
    for name in ("Submit for review", "Resubmit", "Withdraw", "Save description"):
        assert await view.get_by_role("button", name=name).count() == 0
    await page.screenshot(path=str(ARTIFACTS / "released.png"))
