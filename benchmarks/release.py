"""Release packaging throughput and memory: trevor's streamed RO-Crate zip against ``zip -0``.

A request of 100 objects totalling 1 GiB (random bytes, so nothing compresses; the crate stores
members uncompressed, like ``zip -0``) is put in a local object store. Then, in the same run:

* baseline: ``zip -0 -q`` of the same files, and a plain ``cat`` of them into one file
  (both read the same page-cached files and write to the same disk);
* trevor: :func:`trevor_backend.services.crate.write_zip` into the store's writer, which
  re-reads every object through the store, verifies its sha256, writes the zip (CRC-32,
  zip64 data descriptors), hashes the whole crate and commits it (fsync + rename).

Each is run ``--repeat`` times alternately and the best time is kept. Printed: the times, the
ratio trevor / ``zip -0`` (goal <= 1.5) and trevor's peak RSS growth over its starting RSS
(goal < 100 MB), sampled every 5 ms by a thread.

Usage: python benchmarks/release.py [--objects 100] [--total-mib 1024] [--repeat 2] [--dir D]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from trevor_backend.services import crate
from trevor_backend.storage import LocalStore

MiB = 1024 * 1024


class PeakRSS:
    """Samples this process's RSS in a thread; ``growth`` is peak minus the start value."""

    def __init__(self, interval: float = 0.005) -> None:
        self.process = psutil.Process()
        self.interval = interval
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


async def make_objects(store: LocalStore, count: int, total: int) -> list[crate.CrateFile]:
    size = total // count
    files = []
    chunk = MiB
    for i in range(count):
        key = f"quarantine/bench/req/{i:04d}"
        digest = hashlib.sha256()
        async with store.open_writer(key) as writer:
            left = size
            while left:
                data = os.urandom(min(chunk, left))
                digest.update(data)
                await writer.write(data)
                left -= len(data)
        files.append(
            crate.CrateFile(
                object_id=f"obj{i:04d}",
                logical_id=f"log{i:04d}",
                version=1,
                filename=f"output-{i:04d}.bin",
                media_type="application/octet-stream",
                size=size,
                sha256=digest.hexdigest(),
                storage_key=key,
                title=f"Output {i}",
                statbarn="Frequencies",
                justification="benchmark",
            )
        )
    return crate.assign_arcnames(files)


def snapshot(files: list[crate.CrateFile]) -> crate.CrateRequest:
    person = crate.CratePerson(id="u1", name="Bench Researcher")
    return crate.CrateRequest(
        id="req",
        project_id="bench",
        project_name="Benchmark",
        title="1 GiB release",
        description="benchmark",
        revision=1,
        created_at=datetime.now(UTC),
        submitted_at=None,
        author=person,
        files=tuple(files),
    )


async def trevor_once(store: LocalStore, req: crate.CrateRequest, n: int) -> tuple[float, int]:
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        writer = await store.open_writer(f"releases/bench/req/run{n}.zip")
        result = await crate.write_zip(
            writer, req, datetime.now(UTC), lambda f: store.iter_bytes(f.storage_key)
        )
        await writer.commit()
        elapsed = time.perf_counter() - t0
    assert result.size > 0 and len(result.verified) == len(req.files)
    await store.delete(f"releases/bench/req/run{n}.zip")
    return elapsed, rss.growth


def zip0_once(src: Path, out: Path) -> float:
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["zip", "-0", "-q", "-r", str(out), "."], cwd=src, check=True)
    elapsed = time.perf_counter() - t0
    out.unlink()
    return elapsed


def cat_once(src: Path, out: Path) -> float:
    t0 = time.perf_counter()
    with out.open("wb") as sink:
        for path in sorted(src.iterdir()):
            with path.open("rb") as f:
                shutil.copyfileobj(f, sink, 1 << 20)
    elapsed = time.perf_counter() - t0
    out.unlink()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dir", default=None, help="working directory (default: a temp dir)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trevor-release-bench-", dir=args.dir))
    try:
        store = LocalStore(root=str(work / "objects"))
        print(f"writing {args.objects} objects, {args.total_mib} MiB in total, to {work} ...")
        files = await make_objects(store, args.objects, args.total_mib * MiB)
        req = snapshot(files)
        src = work / "objects" / "quarantine" / "bench" / "req"
        out = work / "baseline.zip"
        zip_times, cat_times, trevor_times, growths = [], [], [], []
        for n in range(args.repeat):
            zip_times.append(zip0_once(src, out))
            cat_times.append(cat_once(src, out))
            elapsed, growth = await trevor_once(store, req, n)
            trevor_times.append(elapsed)
            growths.append(growth)
        best_zip, best_cat, best_trevor = min(zip_times), min(cat_times), min(trevor_times)
        total = sum(f.size for f in files)
        print(f"objects: {len(files)}, total {total / MiB:.0f} MiB, repeats: {args.repeat}")
        print(f"zip -0 (baseline):    {best_zip:6.2f} s  ({total / MiB / best_zip:6.0f} MiB/s)")
        print(f"cat (plain copy):     {best_cat:6.2f} s  ({total / MiB / best_cat:6.0f} MiB/s)")
        print(
            f"trevor crate:         {best_trevor:6.2f} s  ({total / MiB / best_trevor:6.0f} MiB/s)"
            " (verify sha256 + zip + crate sha256 + fsync)"
        )
        print(f"ratio trevor / zip -0: {best_trevor / best_zip:.2f}   (goal <= 1.5)")
        print(f"ratio trevor / cat:    {best_trevor / best_cat:.2f}")
        print(f"peak RSS growth:       {max(growths) / MiB:.1f} MB   (goal < 100 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
