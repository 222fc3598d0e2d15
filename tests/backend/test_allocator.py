"""The backend keeps freed memory for reuse instead of returning it to the kernel and faulting
it in again (see trevor_backend/allocator.py): checked by counting page faults of a buffer
churn like an upload's in fresh processes, and that serving applies it. Its startup heap is
kept out of the cyclic collector's full collections: checked by what a full collection still
has to walk in a fresh process that built the application."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.processes import free_port
from trevor_backend import allocator
from trevor_backend.app import TrevorBackend

GLIBC = sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION") is not None

# Sixteen 1 MiB buffers held at once and freed, twenty times over: an upload's chunks in flight.
CHURN = """
import resource, sys
from trevor_backend import allocator
applied = allocator.keep_freed_memory() if sys.argv[1] == "keep" else []
def churn():
    for _ in range(20):
        held = [bytearray(1 << 20) for _ in range(16)]
        del held
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, ",".join(applied))
"""


def churn_faults(mode: str, **env: str) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        env=clean | env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), out[1] if len(out) > 1 else ""


@pytest.mark.skipif(not GLIBC, reason="mallopt settings are glibc's")
def test_freed_buffers_are_reused_not_faulted_in_again() -> None:
    default, _ = churn_faults("default")
    kept, applied = churn_faults("keep")
    assert applied == "MALLOC_TRIM_THRESHOLD,MALLOC_MMAP_THRESHOLD"
    # 20 x 16 MiB churned: by default most of it is faulted in again (about 80,000 pages).
    assert default > 20 * 16 * 256 // 4
    assert kept < default // 20


@pytest.mark.skipif(not GLIBC, reason="mallopt settings are glibc's")
def test_settings_from_glibcs_environment_are_left_alone() -> None:
    faults, applied = churn_faults("keep", MALLOC_TRIM_THRESHOLD_="4096")
    assert applied == "MALLOC_MMAP_THRESHOLD"
    assert faults > 20 * 16 * 256 // 4  # the operator's small trim threshold is in effect


def test_nothing_is_applied_without_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, name: Any) -> None:
            pass

    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    assert allocator.keep_freed_memory() == []


async def test_serving_applies_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    listening = asyncio.Event()
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append("applied") or [])
    # Not this test process's own heap: only that serving asks for it.
    monkeypatch.setattr(allocator, "freeze_startup_heap", lambda: calls.append("frozen") or 0)
    app = TrevorBackend(
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'trevor.sqlite'}",
        storage_url=(tmp_path / "objects").as_uri(),
        port=free_port(),
        ip="127.0.0.1",
        auto_migrate=True,
        reconciler_enabled=False,
    )
    serving = asyncio.ensure_future(app.serve(ready=lambda backend: listening.set()))
    try:
        await asyncio.wait_for(listening.wait(), 60)
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
    assert calls == ["applied", "frozen"]


FREEZE = """
import gc, sys
from trevor_backend.app import TrevorBackend
from trevor_backend.web import make_app
import asyncio
async def main():
    app = TrevorBackend(data_dir=sys.argv[1], database_url="sqlite+aiosqlite:///" + sys.argv[1]
                        + "/t.sqlite", storage_url="file://" + sys.argv[1] + "/objects",
                        auto_migrate=True)
    backend = await app.make_backend()
    make_app(backend)
    from trevor_backend import allocator
    before = len(gc.get_objects())
    frozen = allocator.freeze_startup_heap()
    print(before, frozen, len(gc.get_objects()))
    await backend.close()
asyncio.run(main())
"""


def test_a_full_collection_no_longer_walks_the_startup_heap(tmp_path: Path) -> None:
    before, frozen, walked = map(
        int,
        subprocess.run(
            [sys.executable, "-c", FREEZE, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split(),
    )
    # gc.get_objects() lists what a full collection walks: the application's ~200,000
    # objects before, next to nothing after (the frozen ones are out of its sight).
    assert before > 50_000
    assert frozen >= before * 0.9
    assert walked < before // 100
