"""The server extension's HTTP surface in a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_trevor
from jupyter_trevor import workspace as ws
from jupyter_trevor.handlers import EXTENSION_API

ROOT = Path(__file__).resolve().parents[2]
# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


async def fetch(jp_fetch: Any, *parts: str, **kw: Any) -> Any:
    """jp_fetch that returns error responses instead of raising."""
    try:
        return await jp_fetch(*parts, **kw)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.response


def problem_of(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/problem+json"), (
        response.headers["Content-Type"],
        response.body,
    )
    body = json.loads(response.body)
    assert body["status"] == response.code
    assert body["title"] and "type" in body
    return body


# -- version handshake and packaging ----------------------------------------------------------


def _resolved(path: Path) -> Path:
    return path.resolve()


async def test_workspace_marker_lets_kernels_in_subfolders_find_the_manifest(
    jp_serverapp: Any, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_trevor.kernel.config import workspace_root

    assert (workspace / ".trevor").is_dir()
    sub = workspace / "analysis" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.delenv("TREVOR_WORKSPACE", raising=False)
    monkeypatch.chdir(sub)
    assert workspace_root() == _resolved(workspace)


async def test_version_handshake(jp_fetch: Any) -> None:
    r = await jp_fetch("trevor", "version")
    body = json.loads(r.body)
    assert body["version"] == jupyter_trevor.__version__
    assert body["api"] == EXTENSION_API
    assert body["backend_configured"] is False
    assert body["inbox_dir"] == "inbox"


def test_labextension_package_matches_the_python_package() -> None:
    # The frontend compares its own version/API with /trevor/version, and the server finds the
    # built labextension through _jupyter_labextension_paths: all three must agree.
    pkg = json.loads((ROOT / "labextension" / "package.json").read_text())
    paths = jupyter_trevor._jupyter_labextension_paths()
    assert paths == [{"src": "labextension", "dest": pkg["name"]}]
    assert pkg["jupyterlab"]["outputDir"] == "../jupyter_trevor/labextension"
    assert pkg["version"] == jupyter_trevor.__version__
    assert "@jupyterlab/core-meta" in pkg["devDependencies"]  # offline builds (SPEC §2)
    points = jupyter_trevor._jupyter_server_extension_points()
    assert points[0]["module"] == "jupyter_trevor"
    api_ts = (ROOT / "labextension" / "src" / "version.ts").read_text()
    assert f"export const EXTENSION_API = '{EXTENSION_API}';" in api_ts
    assert f"export const FRONTEND_VERSION = '{pkg['version']}';" in api_ts


def test_server_config_enables_the_extension() -> None:
    cfg_file = ROOT / "jupyter-config" / "server-config" / "jupyter_trevor.json"
    cfg = json.loads(cfg_file.read_text())
    assert cfg["ServerApp"]["jpserver_extensions"]["jupyter_trevor"] is True


# -- authentication ---------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", ("trevor", "version")),
    ("GET", ("trevor", "outputs")),
    ("POST", ("trevor", "outputs")),
    ("GET", ("trevor", "api", "users", "me")),
    ("POST", ("trevor", "api", "requests")),
    ("PUT", ("trevor", "api", "requests", "r1", "objects", "o1", "metadata")),
    ("DELETE", ("trevor", "api", "requests", "r1")),
    ("POST", ("trevor", "requests", "r1", "outputs", "x")),
    ("GET", ("trevor", "events")),
    ("GET", ("trevor", "inbox")),
    ("POST", ("trevor", "inbox")),
    ("GET", ("trevor", "nonexistent")),
]


@pytest.mark.parametrize(("method", "parts"), ENDPOINTS)
async def test_anonymous_requests_are_refused(
    jp_fetch: Any, workspace: Path, method: str, parts: tuple[str, ...]
) -> None:
    body = b"{}" if method in ("POST", "PUT") else None
    r = await fetch(jp_fetch, *parts, method=method, body=body, headers={"Authorization": ""})
    assert r.code in (401, 403), (r.code, r.body)
    assert not (workspace / ".trevor" / "outputs").exists()


# -- tagged outputs ---------------------------------------------------------------------------


def write_kernel_output(workspace: Path, output_id: str = "table-1") -> dict[str, Any]:
    src = workspace / "t.csv"
    src.write_text("sex,count\nF,12\nM,15\n")
    record = ws.write_output(
        workspace,
        output_id,
        src,
        {
            "title": "Counts by sex",
            "statbarn": "frequency",
            "justification": "Table 1 of the paper",
            "provenance": {"notebook_path": "analysis.ipynb", "cell_id": "c1", "code": "..."},
            "evidence": {"cells": [{"n": 12}, {"n": 15}]},
            "report": {"status": "pass", "findings": []},
        },
    )
    src.unlink()
    return record


async def test_outputs_listing_from_the_workspace(jp_fetch: Any, workspace: Path) -> None:
    r = await jp_fetch("trevor", "outputs")
    assert json.loads(r.body) == {"items": []}
    record = write_kernel_output(workspace)
    items = json.loads((await jp_fetch("trevor", "outputs")).body)["items"]
    assert len(items) == 1
    item = items[0]
    assert item["id"] == "table-1"
    assert item["title"] == "Counts by sex"
    assert item["statbarn"] == "frequency"
    assert item["verdict"]["status"] == "pass"
    assert item["sha256"] == record["sha256"]
    assert item["has_evidence"] is True
    assert item["provenance"]["notebook_path"] == "analysis.ipynb"


def cell_output(data: dict[str, Any], kind: str = "display_data") -> dict[str, Any]:
    return {"output_type": kind, "data": data, "metadata": {}}


async def tag(jp_fetch: Any, output: dict[str, Any], **meta: Any) -> Any:
    body = {
        "output": output,
        "metadata": {"title": "Figure 1", "statbarn": "frequency", **meta},
        "provenance": {"notebook_path": "a.ipynb", "cell_id": "abc", "execution_count": 3},
    }
    return await fetch(jp_fetch, "trevor", "outputs", method="POST", body=json.dumps(body))


async def test_tag_image_output_writes_png(jp_fetch: Any, workspace: Path) -> None:
    r = await tag(
        jp_fetch,
        cell_output({"image/png": base64.b64encode(PNG).decode(), "text/plain": "<Figure>"}),
    )
    assert r.code == 201, r.body
    rec = json.loads(r.body)
    assert rec["filename"].endswith(".png") and rec["media_type"] == "image/png"
    assert ws.object_path(workspace, rec["id"]).read_bytes() == PNG
    stored = ws.read_output(workspace, rec["id"])
    assert stored["provenance"]["cell_id"] == "abc"
    assert stored["metadata"]["title"] == "Figure 1"  # the kernel's record layout
    assert stored["report"]["status"] == "review"  # no evidence at source: a human judges
    listed = json.loads((await jp_fetch("trevor", "outputs")).body)["items"]
    assert [i["id"] for i in listed] == [rec["id"]]
    assert listed[0]["has_evidence"] is False


async def test_tag_html_table_becomes_csv(jp_fetch: Any, workspace: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"region": ["North", "South"], "n": [11, 23]})
    r = await tag(
        jp_fetch,
        cell_output(
            {"text/html": df.to_html(index=False), "text/plain": repr(df)}, "execute_result"
        ),
    )
    assert r.code == 201, r.body
    rec = json.loads(r.body)
    assert rec["media_type"] == "text/csv"
    back = pd.read_csv(io.BytesIO(ws.object_path(workspace, rec["id"]).read_bytes()))
    assert back.to_dict("list") == {"region": ["North", "South"], "n": [11, 23]}


async def test_tag_plain_text_and_stream(jp_fetch: Any, workspace: Path) -> None:
    r = await tag(jp_fetch, cell_output({"text/plain": ["coef 0.5\n", "se 0.1\n"]}))
    assert r.code == 201, r.body
    rec = json.loads(r.body)
    assert ws.object_path(workspace, rec["id"]).read_text() == "coef 0.5\nse 0.1\n"
    r = await tag(jp_fetch, {"output_type": "stream", "name": "stdout", "text": "hello\n"})
    assert r.code == 201 and json.loads(r.body)["filename"].endswith(".txt")


@pytest.mark.parametrize(
    ("output", "meta", "pointer"),
    [
        ({"output_type": "error", "ename": "E", "evalue": "", "traceback": []}, {}, "/output"),
        (cell_output({"text/plain": "x"}), {"title": "  "}, "/metadata/title"),
        (cell_output({"application/x-unknown": "x"}), {}, "/output/data"),
        (cell_output({"image/png": "not base64!!"}), {}, "/output/data"),
        (cell_output({"text/plain": "x"}), {"statbarn": 5}, "/metadata/statbarn"),
    ],
)
async def test_tagging_bad_input_is_a_problem_and_writes_nothing(
    jp_fetch: Any, workspace: Path, output: dict[str, Any], meta: dict[str, Any], pointer: str
) -> None:
    r = await tag(jp_fetch, output, **meta)
    assert r.code == 400
    body = problem_of(r)
    assert body["errors"][0]["pointer"] == pointer
    assert ws.list_outputs(workspace) == []


async def test_tagging_rejects_non_json(jp_fetch: Any) -> None:
    r = await fetch(jp_fetch, "trevor", "outputs", method="POST", body=b"{nope")
    assert r.code == 400
    assert "not JSON" in problem_of(r)["detail"]


# -- no backend / unreachable backend ---------------------------------------------------------


async def test_backend_not_configured_is_503(jp_fetch: Any) -> None:
    for parts, method in [
        (("trevor", "api", "statbarns"), "GET"),
        (("trevor", "inbox"), "POST"),
        (("trevor", "events"), "GET"),
    ]:
        r = await fetch(jp_fetch, *parts, method=method, body=b"" if method == "POST" else None)
        assert r.code == 503
        assert problem_of(r)["type"].endswith("/backend-not-configured")


class TestUnreachableBackend:
    @pytest.fixture
    def trevor_config(self, closed_port_url: str) -> dict[str, Any]:
        return {"backend_url": closed_port_url, "token": "t"}

    async def test_proxy_is_502_problem(self, jp_fetch: Any, closed_port_url: str) -> None:
        r = await fetch(jp_fetch, "trevor", "api", "statbarns")
        assert r.code == 502
        body = problem_of(r)
        assert body["type"].endswith("/backend-unreachable")
        assert closed_port_url in body["detail"]

    async def test_version_still_answers(self, jp_fetch: Any) -> None:
        body = json.loads((await jp_fetch("trevor", "version")).body)
        assert body["backend_configured"] is True

    async def test_events_inbox_and_upload_are_502(self, jp_fetch: Any, workspace: Path) -> None:
        write_kernel_output(workspace, "t1")
        for parts, method in [
            (("trevor", "events"), "GET"),
            (("trevor", "inbox"), "POST"),
            (("trevor", "requests", "r1", "outputs", "t1"), "POST"),
        ]:
            r = await fetch(jp_fetch, *parts, method=method, body=b"" if method == "POST" else None)
            assert r.code == 502, (parts, r.body)
            assert problem_of(r)["type"].endswith("/backend-unreachable")

    async def test_upload_of_unknown_output_is_404(self, jp_fetch: Any) -> None:
        r = await fetch(
            jp_fetch, "trevor", "requests", "r1", "outputs", "nope", method="POST", body=b""
        )
        assert r.code == 404
        assert problem_of(r)["type"].endswith("/output-not-found")


@pytest.mark.parametrize("path", ["../x", "a/./b", "requests/../../etc"])
async def test_proxy_refuses_path_tricks(jp_fetch: Any, path: str) -> None:
    r = await fetch(jp_fetch, "trevor", "api", path)
    assert r.code == 400
    assert problem_of(r)["detail"] == "Bad API path"


async def test_unknown_trevor_path_is_problem_404(jp_fetch: Any) -> None:
    r = await fetch(jp_fetch, "trevor", "no", "such", "thing")
    assert r.code == 404
    problem_of(r)


async def test_inbox_listing(jp_fetch: Any, workspace: Path) -> None:
    (workspace / "inbox" / "r7").mkdir(parents=True)
    (workspace / "inbox" / "r7" / "codes.csv").write_text("a\n")
    body = json.loads((await jp_fetch("trevor", "inbox")).body)
    assert body["inbox_dir"] == "inbox"
    assert [(i["request_id"], i["path"]) for i in body["items"]] == [("r7", "inbox/r7/codes.csv")]
