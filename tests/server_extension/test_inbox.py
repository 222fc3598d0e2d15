"""Delivery of approved ingress files into the workspace inbox (jupyter_trevor.inbox).

Downloads go over real HTTP (our byte-serving test server) through the extension's real
``BackendClient``; acknowledgements are recorded by the test.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from jupyter_trevor.client import BackendClient
from jupyter_trevor.inbox import (
    DeliveryItem,
    DeliveryRejected,
    check_component,
    deliver_all,
    deliver_one,
    list_inbox,
)

from .conftest import ByteServer

DATA = b"id,value\n1,42\n2,17\n"
SHA = hashlib.sha256(DATA).hexdigest()


class Transport:
    """The real client for downloads; acknowledgements and download calls are recorded."""

    def __init__(self, client: BackendClient) -> None:
        self.client = client
        self.acked: list[DeliveryItem] = []
        self.downloads: list[str] = []

    async def download(self, url: str, out: BinaryIO, max_bytes: int | None) -> str:
        self.downloads.append(url)
        return await self.client.download_to(url, out, max_bytes=max_bytes)

    async def acknowledge(self, item: DeliveryItem) -> None:
        self.acked.append(item)


@pytest.fixture
def transport(byte_server: ByteServer) -> Any:
    client = BackendClient(byte_server.url, "secret-token")
    yield Transport(client)
    client.close()


def item(url: str, **over: Any) -> DeliveryItem:
    fields: dict[str, Any] = {
        "request_id": "r1",
        "object_id": "o1",
        "filename": "lookup.csv",
        "sha256": SHA,
        "size": len(DATA),
        "url": url,
    }
    fields.update(over)
    return DeliveryItem(**fields)


async def deliver(
    it: DeliveryItem, workspace: Path, transport: Transport, inbox_dir: str = "inbox"
) -> Any:
    return await deliver_one(
        it,
        workspace=workspace,
        inbox_dir=inbox_dir,
        download=transport.download,
        acknowledge=transport.acknowledge,
    )


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


async def test_delivers_verifies_and_acknowledges(
    tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url), tmp_path, transport)
    assert result.status == "delivered", result
    assert result.path == "inbox/r1/lookup.csv"
    assert (tmp_path / "inbox" / "r1" / "lookup.csv").read_bytes() == DATA
    assert [a.object_id for a in transport.acked] == ["o1"]
    # No temporary file is left behind.
    assert list((tmp_path / ".trevor" / "tmp").iterdir()) == []
    assert list_inbox(tmp_path, "inbox")[0]["path"] == "inbox/r1/lookup.csv"


@pytest.mark.parametrize(
    "name",
    [
        "../escape.csv",
        "..",
        ".",
        "",
        "/etc/passwd",
        "a/b.csv",
        "a\\b.csv",
        "C:\\x.csv",
        "x\x00y",
        "line\nbreak",
        " padded.csv",
    ],
)
async def test_path_like_filenames_are_rejected(
    name: str, tmp_path: Path, byte_server: ByteServer, transport: Transport, outside_dir: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url, filename=name), ws, transport)
    assert result.status == "rejected"
    assert result.code == "unsafe-name"
    assert transport.downloads == [] and transport.acked == []
    assert files_under(tmp_path) == []
    assert files_under(outside_dir) == []


@pytest.mark.parametrize("rid", ["..", "../..", "a/../b", "/abs"])
async def test_path_like_request_ids_are_rejected(
    rid: str, tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url, request_id=rid), tmp_path, transport)
    assert (result.status, result.code) == ("rejected", "unsafe-name")
    assert files_under(tmp_path) == []


async def test_checksum_mismatch_writes_nothing(
    tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    url = byte_server.serve("o1", DATA + b"tampered")
    result = await deliver(item(url, size=None), tmp_path, transport)
    assert (result.status, result.code) == ("rejected", "checksum-mismatch")
    assert not (tmp_path / "inbox" / "r1" / "lookup.csv").exists()
    assert transport.acked == []
    assert list((tmp_path / ".trevor" / "tmp").iterdir()) == []


async def test_download_larger_than_announced_is_cut_off(
    tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    url = byte_server.serve("o1", DATA * 1000)
    result = await deliver(item(url, size=len(DATA)), tmp_path, transport)
    assert (result.status, result.code) == ("failed", "download-failed")
    assert "more than the announced" in (result.detail or "")
    assert not (tmp_path / "inbox" / "r1" / "lookup.csv").exists()
    assert transport.acked == []


async def test_existing_file_is_never_overwritten(
    tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    target = tmp_path / "inbox" / "r1" / "lookup.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"the researcher's own edits")
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url), tmp_path, transport)
    assert (result.status, result.code) == ("rejected", "exists")
    assert target.read_bytes() == b"the researcher's own edits"
    assert transport.acked == []


async def test_existing_identical_file_is_acknowledged_again(
    tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    # A crash between writing the file and acknowledging it: the next run must not refuse,
    # must not download again, and must acknowledge.
    target = tmp_path / "inbox" / "r1" / "lookup.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(DATA)
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url), tmp_path, transport)
    assert result.status == "already_delivered"
    assert transport.downloads == []
    assert [a.object_id for a in transport.acked] == ["o1"]


async def test_symlinked_inbox_pointing_outside_is_refused(
    tmp_path: Path, byte_server: ByteServer, transport: Transport, outside_dir: Path
) -> None:
    (tmp_path / "inbox").symlink_to(outside_dir, target_is_directory=True)
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url), tmp_path, transport)
    assert (result.status, result.code) == ("rejected", "outside-workspace")
    assert files_under(outside_dir) == []
    assert transport.downloads == [] and transport.acked == []


async def test_symlinked_request_folder_pointing_outside_is_refused(
    tmp_path: Path, byte_server: ByteServer, transport: Transport, outside_dir: Path
) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "r1").symlink_to(outside_dir, target_is_directory=True)
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url), tmp_path, transport)
    assert (result.status, result.code) == ("rejected", "outside-workspace")
    assert files_under(outside_dir) == []


async def test_dangling_symlink_at_the_target_name_is_not_followed(
    tmp_path: Path, byte_server: ByteServer, transport: Transport, outside_dir: Path
) -> None:
    folder = tmp_path / "inbox" / "r1"
    folder.mkdir(parents=True)
    (folder / "lookup.csv").symlink_to(outside_dir / "planted.csv")
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url), tmp_path, transport)
    assert (result.status, result.code) == ("rejected", "exists")
    assert not (outside_dir / "planted.csv").exists()


@pytest.mark.parametrize("inbox_dir", ["/tmp/inbox", "../inbox", "a/../../b", ""])
async def test_inbox_dir_outside_workspace_is_refused(
    inbox_dir: str, tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    url = byte_server.serve("o1", DATA)
    result = await deliver(item(url), tmp_path, transport, inbox_dir=inbox_dir)
    assert (result.status, result.code) == ("rejected", "bad-config")


async def test_failed_download_leaves_nothing(
    tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    result = await deliver(item(f"{byte_server.url}/files/missing"), tmp_path, transport)
    assert (result.status, result.code) == ("failed", "download-failed")
    assert not (tmp_path / "inbox" / "r1" / "lookup.csv").exists()
    assert transport.acked == []


async def test_token_goes_to_the_backend_origin_only(
    tmp_path: Path, byte_server: ByteServer
) -> None:
    url = byte_server.serve("o1", DATA)
    same = BackendClient(byte_server.url, "secret-token")
    other = BackendClient("http://127.0.0.1:9", "secret-token")
    try:
        with (tmp_path / "a").open("wb") as fh:
            assert await same.download_to(url, fh) == SHA
        with (tmp_path / "b").open("wb") as fh:
            # e.g. a pre-signed object-store URL: it must never see the trevor token
            assert await other.download_to(url, fh) == SHA
    finally:
        same.close()
        other.close()
    assert byte_server.seen_headers[0].get("Authorization") == "Bearer secret-token"
    assert "Authorization" not in byte_server.seen_headers[1]


async def test_deliver_all_reports_bad_items_and_goes_on(
    tmp_path: Path, byte_server: ByteServer, transport: Transport
) -> None:
    url = byte_server.serve("o2", DATA)
    results = await deliver_all(
        [
            {"request_id": "r1", "object_id": "o1"},  # no filename / sha256
            {
                "request_id": "r1",
                "object_id": "o2",
                "filename": "ok.csv",
                "sha256": SHA,
                "size": len(DATA),
                "url": url,
            },
        ],
        workspace=tmp_path,
        inbox_dir="inbox",
        download=transport.download,
        acknowledge=transport.acknowledge,
    )
    assert [(r.object_id, r.status) for r in results] == [("o1", "rejected"), ("o2", "delivered")]
    assert [r.code for r in results] == ["bad-item", None]


def test_content_path_defaults_to_the_object_content_endpoint() -> None:
    it = DeliveryItem.from_json(
        {"request_id": "r9", "object_id": "o9", "filename": "f.txt", "sha256": SHA}
    )
    assert it.url == "/api/v1/requests/r9/objects/o9/content"
    assert it.size is None


def test_check_component_accepts_ordinary_names() -> None:
    for name in ["table 1.csv", "résumé.pdf", ".hidden", "a..b.txt"]:
        assert check_component(name, "filename") == name
    with pytest.raises(DeliveryRejected):
        check_component("x" * 256, "filename")


def test_list_inbox_skips_symlinks(tmp_path: Path, outside_dir: Path) -> None:
    (outside_dir / "secret.txt").write_text("no")
    folder = tmp_path / "inbox" / "r1"
    folder.mkdir(parents=True)
    (folder / "real.txt").write_text("yes")
    os.symlink(outside_dir / "secret.txt", folder / "link.txt")
    assert [e["filename"] for e in list_inbox(tmp_path, "inbox")] == ["real.txt"]
