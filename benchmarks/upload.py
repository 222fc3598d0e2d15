"""Upload throughput and memory of the streamed object upload, directly and through Jupyter.

Uploads a file (default 1 GiB) through the API into the local store and compares it, in
``--rounds`` interleaved rounds (best of each kept), with hashing the same file by the same
implementation the backend uses: Python's ``hashlib.sha256`` (OpenSSL) in-process and
``openssl dgst -sha256``, plus coreutils ``sha256sum``. Printed: the ratios (goal >= 0.5 of
hashlib/openssl) and the backend's peak RSS growth (goal < 64 MB). Two more baselines in the
same rounds: a Tornado handler in its own process that only discards the body (configured like
the backend's server: 1 MiB body chunks), the transport's floor, which no upload through
Tornado can beat; and ``dd conv=fsync`` of the file into the store's file system (4 MiB blocks,
the store's batch), what writing the bytes durably there costs without HTTP or hashing; and
the same with ``oflag=direct``, the disk's own rate past the page cache, which bounds any
upload that answers only once its bytes are on the disk.

In the same rounds the file also goes through the Jupyter server extension (``POST
/trevor/requests/{rid}/outputs/{id}`` of a real ``jupyter server`` with jupyter_trevor, which
reads, hashes and streams it to the backend) while a thread asks Jupyter's ``/api/status``
every 20 ms. Printed: the best time against the best direct upload (goal >= 0.7) and
/api/status p50/p99/max over every upload through Jupyter (goal < 50 ms).

The store is on the real disk unless ``--data-dir`` puts it elsewhere (``/dev/shm``: tmpfs,
a side note; the goals are for the default).

    .venv/bin/python benchmarks/upload.py [--size-mib 1024] [--rounds 2] [--no-jupyter]
        [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import statistics
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


def time_hashlib(path: Path) -> tuple[float, str]:
    import hashlib

    t0, c0 = time.perf_counter(), time.process_time()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    CPU.setdefault("hashlib", []).append(time.process_time() - c0)
    return time.perf_counter() - t0, digest.hexdigest()


#: CPU seconds (user + system) per run, by contender: unlike wall time, they hardly change with
#: the load other processes put on the machine.
CPU: dict[str, list[float]] = {}


def cpu_seconds(*procs: psutil.Process) -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


def time_openssl(path: Path) -> tuple[float, str] | None:
    try:
        t0 = time.perf_counter()
        out = subprocess.run(
            ["openssl", "dgst", "-sha256", "-r", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return time.perf_counter() - t0, out.stdout.split()[0]


def time_sha256sum(path: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, out.stdout.split()[0]


SINK = """
import asyncio, sys
import tornado.httpserver, tornado.web

@tornado.web.stream_request_body
class Sink(tornado.web.RequestHandler):
    def prepare(self):
        self.request.connection.set_max_body_size(1 << 40)
    def data_received(self, chunk):
        pass
    def post(self):
        self.write("ok")
    def get(self):
        self.write("ok")

async def main():
    app = tornado.web.Application([(r"/", Sink)])
    server = tornado.httpserver.HTTPServer(app, max_body_size=1 << 40, chunk_size=1 << 20)
    server.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
"""


def start_sink(port: int) -> subprocess.Popen[bytes]:
    """A Tornado server that discards request bodies (the transport baseline)."""
    proc = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("sink did not start")


def time_sink(port: int, src: Path, size: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, blocksize=1 << 20)
    t0 = time.perf_counter()
    with open(src, "rb") as body:
        conn.request("POST", "/", body=body, headers={"Content-Length": str(size)})
        conn.getresponse().read()
    return time.perf_counter() - t0


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


def upload_direct(port: int, token: str, rid: str, src: Path, size: int) -> float:
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
    if resp.status != 201:
        raise RuntimeError(f"upload failed: {resp.status} {result}")
    return elapsed


def start_jupyter(root: Path, port: int, backend_port: int, token: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
        "JUPYTER_DATA_DIR": str(root / ".jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(root / ".jupyter-runtime"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--port={port}",
            "--IdentityProvider.token=bench",
            "--allow-root",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.jpserver_extensions={'jupyter_trevor': True}",
            f"--TrevorExtensionApp.backend_url=http://127.0.0.1:{backend_port}",
            f"--TrevorExtensionApp.token={token}",
            "--TrevorExtensionApp.project=p1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/status?token=bench", timeout=1
            ):
                return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("jupyter server did not start")


class Jupyter:
    """A real ``jupyter server`` with jupyter_trevor whose workspace holds ``src`` as a tagged
    output; each :meth:`upload` sends it to a new request while a thread asks Jupyter's
    ``/api/status`` every 20 ms."""

    def __init__(self, workdir: Path, backend_port: int, token: str, src: Path) -> None:
        from jupyter_trevor import workspace as ws

        root = workdir / "jupyter"
        root.mkdir()
        ws.write_output(
            root,
            "bench",
            src,
            {"filename": "payload.bin", "title": "Benchmark", "statbarn": "Frequencies"},
        )
        self.port = free_port()
        self.proc = start_jupyter(root, self.port, backend_port, token)
        #: /api/status latencies (ms) during every upload
        self.latencies: list[float] = []

    def upload(self, rid: str) -> float:
        done = threading.Event()

        def probe() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port)
            while not done.is_set():
                t0 = time.perf_counter()
                conn.request("GET", "/api/status", headers={"Authorization": "token bench"})
                conn.getresponse().read()
                self.latencies.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.02)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3600)
            t0 = time.perf_counter()
            conn.request(
                "POST",
                f"/trevor/requests/{rid}/outputs/bench",
                body=b"",
                headers={"Authorization": "token bench"},
            )
            resp = conn.getresponse()
            body = resp.read()
            elapsed = time.perf_counter() - t0
        finally:
            done.set()
            prober.join()
        if resp.status != 201:
            raise RuntimeError(f"upload through jupyter failed: {resp.status} {body[:300]!r}")
        return elapsed

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def time_dd(src: Path, directory: Path, *, direct: bool = False) -> float | None:
    """Copy ``src`` into the store's file system with ``dd conv=fsync`` (4 MiB blocks, the
    store's batch size): what writing the bytes durably costs there, without HTTP or hashing.
    ``direct`` adds ``oflag=direct``: the disk's own write rate, past the page cache, which
    bounds an upload that answers only once its bytes are on the disk. None where the file
    system refuses direct I/O (tmpfs)."""
    out = directory / "dd.out"
    t0 = time.perf_counter()
    done = subprocess.run(
        ["dd", f"if={src}", f"of={out}", "bs=4M", "conv=fsync", *(["oflag=direct"] * direct)],
        check=not direct,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - t0
    out.unlink(missing_ok=True)
    return elapsed if done.returncode == 0 else None


def ratio(a: float, b: float) -> float:
    """``a / b`` rounded down to two decimals, so a printed 0.50 has met a 0.5 goal."""
    return math.floor(a / b * 100) / 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-jupyter", action="store_true")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the backend keeps its database and objects (default: a temporary directory "
        "beside the file, on the real disk; /dev/shm puts the store on tmpfs)",
    )
    args = parser.parse_args()
    size = args.size_mib << 20

    with contextlib.ExitStack() as stack:
        tmpdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        data_parent = args.data_dir or tmpdir
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=data_parent))) / "data"
        src = tmpdir / "payload.bin"
        make_file(src, size)

        port = free_port()
        proc = start_backend(data, port)
        sink_port = free_port()
        sink = start_sink(sink_port)
        jupyter: Jupyter | None = None
        try:
            token = json.loads((data / "demo-tokens.json").read_text())["alice"]
            if not args.no_jupyter:
                jupyter = Jupyter(tmpdir, port, token, src)
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
            best: dict[str, float] = {}

            def keep(name: str, seconds: float) -> None:
                best[name] = min(best.get(name, float("inf")), seconds)

            digest = ""
            rids: list[str] = []
            for _ in range(args.rounds):
                # Interleaved, so all contenders see the same machine load and page cache.
                for name, fn in (
                    ("hashlib", time_hashlib),
                    ("openssl", time_openssl),
                    ("sha256sum", time_sha256sum),
                ):
                    got = fn(src)
                    if got is not None:
                        keep(name, got[0])
                        digest = got[1]
                for name, direct in (("dd", False), ("direct", True)):
                    if (took := time_dd(src, data, direct=direct)) is not None:
                        keep(name, took)
                keep("sink", time_sink(sink_port, src, size))
                rid = api(
                    port, token, "POST", "/api/v1/requests", {"project": "p1", "title": "bench"}
                )["id"]
                c0 = cpu_seconds(server)
                keep("upload", upload_direct(port, token, rid, src, size))
                CPU.setdefault("upload", []).append(cpu_seconds(server) - c0)
                rids.append(rid)
                if jupyter is not None:
                    rid = api(
                        port, token, "POST", "/api/v1/requests", {"project": "p1", "title": "j"}
                    )["id"]
                    jupyter_proc = psutil.Process(jupyter.proc.pid)
                    c0 = cpu_seconds(server, jupyter_proc)
                    keep("jupyter", jupyter.upload(rid))
                    CPU.setdefault("jupyter", []).append(cpu_seconds(server, jupyter_proc) - c0)
                    rids.append(rid)
            done.set()
            sampler.join()
            for rid in rids:
                stored = api(port, token, "GET", f"/api/v1/requests/{rid}")["objects"][0]
                if stored["sha256"] != digest:
                    raise RuntimeError("stored sha256 differs from the file's")
        finally:
            if jupyter is not None:
                jupyter.stop()
            for child in (proc, sink):
                child.terminate()
                child.wait(timeout=30)

    mib = size / (1 << 20)
    up = best["upload"]
    growth = (peak[0] - rss_before) / (1 << 20)
    where = "tmpfs" if args.data_dir and str(args.data_dir).startswith("/dev/shm") else "disk"
    print(f"file size            {mib:.0f} MiB, best of {args.rounds} interleaved rounds")
    for name in ("hashlib", "openssl", "sha256sum"):
        if name in best:
            t = best[name]
            ok = "" if name == "sha256sum" else ("  OK" if ratio(t, up) >= 0.5 else "  MISSED")
            print(
                f"{name:<20} {t:.2f} s  ({mib / t:.0f} MiB/s)   upload / {name} = "
                f"{ratio(t, up):.2f}{'  (goal >= 0.5)' if name != 'sha256sum' else ''}{ok}"
            )
    print(
        f"API upload           {up:.2f} s  ({mib / up:.0f} MiB/s, sha256 verified, "
        f"store on {where})"
    )
    t = best["sink"]
    print(
        f"Tornado discard sink {t:.2f} s  ({mib / t:.0f} MiB/s)   upload / sink = "
        f"{ratio(t, up):.2f}  (the transport's floor, no hashing or storing)"
    )
    t = best["dd"]
    print(
        f"dd conv=fsync        {t:.2f} s  ({mib / t:.0f} MiB/s)   upload / dd = "
        f"{ratio(t, up):.2f}  (writing the bytes durably where the store is, no HTTP or hashing)"
    )
    if "direct" in best:
        t = best["direct"]
        print(
            f"dd oflag=direct      {t:.2f} s  ({mib / t:.0f} MiB/s)   hashlib / direct = "
            f"{ratio(best['hashlib'], t):.2f}  (the disk's own rate: the most a durable "
            f"upload can reach against hashlib; upload / direct = {ratio(t, up):.2f})"
        )
    cpu = {name: statistics.median(runs) for name, runs in CPU.items()}
    print(
        f"CPU per run (median) hashlib {cpu['hashlib']:.2f} s, backend per API upload "
        f"{cpu['upload']:.2f} s (hashlib / backend = {ratio(cpu['hashlib'], cpu['upload']):.2f})"
        + (
            f", backend + Jupyter per upload through Jupyter {cpu['jupyter']:.2f} s"
            if "jupyter" in cpu
            else ""
        )
    )
    print(f"backend RSS growth   {growth:.1f} MB  (goal < 64)  {'OK' if growth < 64 else 'MISSED'}")
    if jupyter is not None:
        t, lat = best["jupyter"], sorted(jupyter.latencies)
        print(
            f"through Jupyter      {t:.2f} s  ({mib / t:.0f} MiB/s)   direct / jupyter = "
            f"{ratio(up, t):.2f}  (goal >= 0.7)  {'OK' if ratio(up, t) >= 0.7 else 'MISSED'}"
        )
        if lat:
            p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
            print(
                f"/api/status during   p50 {lat[len(lat) // 2]:.1f} ms  p99 {p99:.1f} ms  "
                f"max {lat[-1]:.1f} ms over {len(lat)} probes  (goal < 50 ms)  "
                f"{'OK' if p99 < 50 else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
