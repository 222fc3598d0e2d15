"""``/trevor/outputs/watch``: the long poll behind the panel's live list of tagged outputs, and
the workspace-relative notebook paths it shows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from jupyter_trevor import workspace as ws


def tag(workspace: Path, output_id: str, content: str, notebook: str) -> None:
    src = workspace / "t.csv"
    src.write_text(content)
    ws.write_output(
        workspace,
        output_id,
        src,
        {"title": output_id, "statbarn": "Frequencies", "provenance": {"notebook_path": notebook}},
    )
    src.unlink()


async def watch(jp_fetch: Any, since: str, wait: float) -> dict[str, Any]:
    r = await jp_fetch("trevor", "outputs", "watch", params={"since": since, "timeout": str(wait)})
    return json.loads(r.body)


async def test_answers_at_once_when_the_caller_is_behind(jp_fetch: Any, workspace: Path) -> None:
    first = await watch(jp_fetch, "", 30)  # "" is never a fingerprint: the list now
    assert first["items"] == [] and first["fingerprint"]
    tag(workspace, "counts", "a,n\nx,12\n", "analysis.ipynb")
    second = await watch(jp_fetch, first["fingerprint"], 30)
    assert [i["id"] for i in second["items"]] == ["counts"]
    assert second["fingerprint"] != first["fingerprint"]


async def test_waits_for_the_next_tag(jp_fetch: Any, workspace: Path) -> None:
    tag(workspace, "counts", "a,n\nx,12\n", "analysis.ipynb")
    now = await watch(jp_fetch, "", 30)
    pending = asyncio.ensure_future(watch(jp_fetch, now["fingerprint"], 60))
    await asyncio.sleep(1.0)
    # Nothing changed: still waiting (a legal state however slow the machine is).
    assert not pending.done()
    tag(workspace, "counts", "a,n\nx,15\n", "analysis.ipynb")  # version 2, as a kernel would
    after = await asyncio.wait_for(pending, 60)
    assert [(i["id"], i["version"]) for i in after["items"]] == [("counts", 2)]


async def test_unchanged_workspace_answers_the_same_list_after_the_timeout(
    jp_fetch: Any, workspace: Path
) -> None:
    tag(workspace, "counts", "a,n\nx,12\n", "analysis.ipynb")
    now = await watch(jp_fetch, "", 30)
    again = await watch(jp_fetch, now["fingerprint"], 0.5)
    assert again == now


async def test_notebook_paths_are_relative_to_the_workspace(jp_fetch: Any, workspace: Path) -> None:
    tag(workspace, "inside", "a,n\nx,12\n", str(workspace / "sub" / "analysis.ipynb"))
    tag(workspace, "outside", "a,n\nx,12\n", "/srv/elsewhere/secret/analysis.ipynb")
    items = {i["id"]: i for i in (await watch(jp_fetch, "", 30))["items"]}
    assert items["inside"]["provenance"]["notebook_path"] == "sub/analysis.ipynb"
    # Outside the workspace: only the file name, never the server's layout.
    assert items["outside"]["provenance"]["notebook_path"] == "analysis.ipynb"
