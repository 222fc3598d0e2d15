"""Upload throughput and memory of the streamed object upload.

Uploads a file (default 1 GiB) through the API into the local store and prints the throughput
as a ratio to `sha256sum` of the same file, measured in the same run, plus the backend's peak
RSS growth during the upload. Goals: ratio >= 0.5, RSS growth < 64 MB.

    .venv/bin/python benchmarks/upload.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.processes import free_port


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)


def time_sha256sum(path: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, out.stdout.split()[0]


def start_backend(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"TREVOR_DATA_DIR": str(data_dir)}
    env.pop("TREVOR_DATABASE_URL", None)
    env.pop("TREVOR_STORAGE_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trevor_backend.app",
            "demo",
            "--port",
            str(port),
            "--TrevorBackend.max_upload_size=8589934592",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("backend did not start")


def api(port: int, token: str, method: str, path: str, body: object = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request(
        method,
        path,
        json.dumps(body) if body is not None else None,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    data = json.loads(resp.read())
    if resp.status >= 300:
        raise RuntimeError(data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib << 20

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        src = tmpdir / "payload.bin"
        make_file(src, size)
        baseline, digest = time_sha256sum(src)

        port = free_port()
        proc = start_backend(tmpdir / "data", port)
        try:
            token = json.loads((tmpdir / "data" / "demo-tokens.json").read_text())["alice"]
            rid = api(
                port, token, "POST", "/api/v1/requests", {"project": "p1", "title": "benchmark"}
            )["id"]
            server = psutil.Process(proc.pid)
            rss_before = server.memory_info().rss
            peak = [rss_before]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], server.memory_info().rss)
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            conn = http.client.HTTPConnection("127.0.0.1", port, blocksize=1 << 20)
            t0 = time.perf_counter()
            with open(src, "rb") as body:
                conn.request(
                    "POST",
                    f"/api/v1/requests/{rid}/objects?filename=payload.bin",
                    body=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Length": str(size)},
                )
                resp = conn.getresponse()
                result = json.loads(resp.read())
            elapsed = time.perf_counter() - t0
            done.set()
            sampler.join()
            if resp.status != 201 or result["sha256"] != digest:
                raise RuntimeError(f"upload failed: {resp.status} {result}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    mib = size / (1 << 20)
    ratio = baseline / elapsed
    growth = (peak[0] - rss_before) / (1 << 20)
    print(f"file size            {mib:.0f} MiB")
    print(f"sha256sum            {baseline:.2f} s  ({mib / baseline:.0f} MiB/s)")
    print(f"API upload           {elapsed:.2f} s  ({mib / elapsed:.0f} MiB/s, sha256 verified)")
    print(f"throughput ratio     {ratio:.2f}  (goal >= 0.5)  {'OK' if ratio >= 0.5 else 'MISSED'}")
    print(f"backend RSS growth   {growth:.1f} MB  (goal < 64)  {'OK' if growth < 64 else 'MISSED'}")


if __name__ == "__main__":
    main()
