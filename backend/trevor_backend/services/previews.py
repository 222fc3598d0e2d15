"""Previews of output objects for checkers and researchers: a sanitised HTML fragment.

Everything rendered here is untrusted: a researcher's notebook can hold any HTML, script or
link. So every fragment, whatever produced it (pandas, mistune, Pygments, nbconvert), goes
through one nh3 allow-list (:func:`sanitise`) before it leaves this module. The allow-list is
deliberately small:

* no scripts, styles sheets, forms, frames, embeds, event handlers or ``id`` attributes;
* links keep only ``http``/``https``/``mailto`` URLs (``javascript:`` and relative URLs go);
* images keep only ``data:`` URIs of raster types (PNG, JPEG, GIF, WebP). A remote image would
  be fetched by the checker's browser the moment the preview opens — a web beacon, and an
  egress path that bypasses the airlock (the URL itself can carry data) — so none are kept;
* inline ``style`` keeps a handful of colour/typography properties (Pygments' inline colours),
  never anything that can load a URL.

Rendering is synchronous and can be slow (nbconvert), so :class:`PreviewService` runs it in a
worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import nh3

from ..principal import Principal
from ..schemas import PreviewOut
from ..storage.verified import IntegrityFailure, read_verified
from . import audit, integrity
from .context import Context

log = logging.getLogger("trevor_backend.previews")

#: Rows of a table shown in a preview.
PREVIEW_ROWS = 50
#: Images larger than this are not inlined as data: URIs even when under preview_max_bytes;
#: a multi-megabyte base64 string in a JSON answer helps nobody.
INLINE_IMAGE_MAX = 5 * 1024**2

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var",
}  # fmt: skip
_ATTRIBUTES = {
    "*": {"class", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align", "style"},
    "th": {"colspan", "rowspan", "align", "scope", "style"},
    "ol": {"start"},
    "span": {"style"},
    "div": {"style"},
    "pre": {"style"},
}
# Properties that cannot reference a URL (no background, no content, no shorthands).
_STYLE_PROPERTIES = {
    "color", "background-color", "font-weight", "font-style", "text-decoration", "text-align",
}  # fmt: skip
_SAFE_IMAGE_URI = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")
_SAFE_LINK = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src":
        return value if _SAFE_IMAGE_URI.match(value) else None
    if tag == "a" and attr == "href":
        return value if _SAFE_LINK.match(value.strip()) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style", "noscript", "template", "iframe", "object", "svg"},
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes={"http", "https", "mailto", "data"},
    url_relative="deny",
    filter_style_properties=_STYLE_PROPERTIES,
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def sanitise(fragment: str) -> str:
    """The only way HTML leaves this module."""
    return _CLEANER.clean(fragment)


@dataclass(frozen=True)
class Rendered:
    kind: str
    html: str | None
    truncated: bool = False
    note: str | None = None


# --- renderers (pure, synchronous) ------------------------------------------------------------

_TABLE_EXT = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET_EXT = {".parquet", ".pq"}
_MARKDOWN_EXT = {".md", ".markdown"}
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def _sniff_image(data: bytes) -> str | None:
    """The image type from the bytes, never from the name: a mislabelled file is not inlined."""
    for magic, media in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _frame_html(df: Any) -> str:
    return str(
        df.to_html(
            index=False, escape=True, na_rep="", border=0, classes="trevor-table", max_cols=200
        )
    )


def render_table(data: bytes, sep: str) -> Rendered:
    import pandas as pd

    # Read one row more than shown, as text, so the preview shows the file's own values.
    df = pd.read_csv(
        io.BytesIO(data),
        sep=sep,
        nrows=PREVIEW_ROWS + 1,
        dtype=str,
        keep_default_na=False,
        encoding_errors="replace",
    )
    truncated = len(df) > PREVIEW_ROWS
    note = f"first {PREVIEW_ROWS} rows" if truncated else None
    return Rendered("table", sanitise(_frame_html(df.head(PREVIEW_ROWS))), truncated, note)


def render_parquet(data: bytes) -> Rendered:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(io.BytesIO(data))
    total = pf.metadata.num_rows
    batch = next(pf.iter_batches(batch_size=PREVIEW_ROWS), None)
    df = pf.schema_arrow.empty_table().to_pandas() if batch is None else batch.to_pandas()
    truncated = total > PREVIEW_ROWS
    note = f"first {min(PREVIEW_ROWS, total)} of {total} rows" if truncated else None
    return Rendered("table", sanitise(_frame_html(df.head(PREVIEW_ROWS))), truncated, note)


def render_markdown(text: str) -> Rendered:
    import mistune

    # escape=True turns raw HTML in the markdown into text; nh3 still has the last word.
    md = mistune.create_markdown(escape=True, plugins=["table", "strikethrough", "url"])
    return Rendered("markdown", sanitise(str(md(text))))


def _highlight(text: str, lexer: Any) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    # Inline colours (noclasses): the fragment carries no stylesheet of its own.
    return highlight(text, lexer, HtmlFormatter(noclasses=True, nobackground=True))


def render_code(text: str, filename: str) -> Rendered | None:
    from pygments.lexers import get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_for_filename(filename, stripnl=False)
    except ClassNotFound:
        return None
    return Rendered("code", sanitise(_highlight(text, lexer)), note=lexer.name)


def render_text(text: str) -> Rendered:
    return Rendered("text", sanitise(f"<pre>{html.escape(text)}</pre>"))


def render_json(text: str) -> Rendered:
    from pygments.lexers import JsonLexer

    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError as exc:
        out = render_text(text)
        return Rendered("json", out.html, note=f"not valid JSON ({exc}); shown as text")
    return Rendered("json", sanitise(_highlight(pretty, JsonLexer())))


def render_image(data: bytes) -> Rendered:
    media = _sniff_image(data)
    if media is None:
        return Rendered("none", None, note="the file is not a PNG, JPEG, GIF or WebP image")
    if len(data) > INLINE_IMAGE_MAX:
        return Rendered("image", None, note="image too large to inline; download it to view")
    uri = f"data:{media};base64,{base64.b64encode(data).decode()}"
    return Rendered("image", sanitise(f'<img src="{uri}" alt="preview">'))


def render_pdf(data: bytes) -> Rendered:
    # PDFs are not embedded: an <embed>/<object> is a plugin surface the sanitiser cannot
    # vouch for, and the content endpoint answers as an attachment behind a Bearer token
    # that an <embed> could not send. The checker downloads it (…/content, audited).
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
    detail = f"PDF, {pages} page{'s' if pages != 1 else ''}" if pages else "PDF"
    return Rendered("pdf", None, note=f"{detail}: download the file (…/content) to view it")


def _strip_unsafe_outputs(nb: Any) -> None:
    """Drop output types a sanitised fragment cannot show, so nbconvert picks a safe one.

    nbconvert inlines SVG as markup and JavaScript/widget outputs as <script>; the sanitiser
    would drop those anyway, leaving nothing. Removing them first lets the text/PNG
    alternative of the same output be shown instead.
    """
    unsafe = (
        "image/svg+xml",
        "application/javascript",
        "text/javascript",
        "application/vnd.jupyter.widget-view+json",
    )
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data")
            if not isinstance(data, dict):
                continue
            dropped = [k for k in unsafe if k in data]
            for k in dropped:
                del data[k]
            if dropped and not data:
                data["text/plain"] = f"[{', '.join(dropped)} output not shown in previews]"
    nb.get("metadata", {}).pop("widgets", None)


def render_notebook(text: str) -> Rendered:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.reads(text, as_version=4)
    _strip_unsafe_outputs(nb)
    exporter = HTMLExporter(template_name="basic", embed_images=True, exclude_anchor_links=True)
    body, _ = exporter.from_notebook_node(nb)
    return Rendered("notebook", sanitise(body))


def _decode(data: bytes) -> str | None:
    """Text, or None for binary. NUL bytes mean binary; other undecodable bytes (a Latin-1
    export, say) are shown as U+FFFD rather than hiding the whole file."""
    if b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def render(filename: str, data: bytes) -> Rendered:
    """Pick a renderer by extension (images by their bytes) and render ``data``."""
    ext = PurePosixPath(filename.lower()).suffix
    if ext in _TABLE_EXT:
        return render_table(data, _TABLE_EXT[ext])
    if ext in _PARQUET_EXT:
        return render_parquet(data)
    if ext in _IMAGE_EXT:
        return render_image(data)
    if ext == ".pdf":
        return render_pdf(data)
    text = _decode(data)
    if text is None:
        return Rendered("none", None, note="binary file: no preview; download it to view")
    if ext in _MARKDOWN_EXT:
        return render_markdown(text)
    if ext == ".ipynb":
        return render_notebook(text)
    if ext == ".json":
        return render_json(text)
    if ext == ".svg":
        # Shown as its XML source: an SVG can carry script and external references.
        code = render_code(text, "image.xml")
        assert code is not None
        return Rendered("code", code.html, note="SVG shown as source")
    return render_code(text, filename) or render_text(text)


def safe_render(filename: str, data: bytes) -> Rendered:
    """:func:`render`, turning a file the renderer chokes on into a note, not a 500."""
    try:
        return render(filename, data)
    except Exception as exc:  # a malformed upload must not break the review screen
        log.info("preview of %s failed: %s", filename, exc)
        return Rendered("none", None, note=f"could not render a preview: {type(exc).__name__}")


class PreviewService:
    def __init__(self, ctx: Context, requests: Any) -> None:
        self.ctx = ctx
        self.requests = requests

    async def preview(self, p: Principal, rid: str, oid: str) -> PreviewOut:
        r, obj = await self.requests.get_object(p, rid, oid)
        limit = self.ctx.settings.preview_max_bytes
        if obj.size > limit:
            rendered = Rendered(
                "metadata",
                None,
                note=f"file larger than the preview limit ({limit} bytes): metadata only",
            )
        else:
            try:
                data = await read_verified(self.ctx.store, obj.storage_key, obj.size, obj.sha256)
            except IntegrityFailure as exc:
                raise await integrity.report(self.ctx, p, r, obj, exc, "preview") from exc
            rendered = await asyncio.to_thread(safe_render, obj.filename, data)
        async with self.ctx.sessions.begin() as session:
            await audit.record(
                session,
                "object.viewed",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=obj.id,
                payload={"as": "preview", "kind": rendered.kind},
            )
        return PreviewOut(
            object_id=obj.id,
            filename=obj.filename,
            media_type=obj.media_type,
            size=obj.size,
            sha256=obj.sha256,
            kind=rendered.kind,  # type: ignore[arg-type]
            html=rendered.html,
            truncated=rendered.truncated,
            note=rendered.note,
        )
