"""The Binder demo as Binder runs it: ``binder/start`` wrapping the single-user JupyterLab under a
``/user/<name>/`` prefix, with only that lab's port reachable. The researcher (alice) is the lab
itself; each checker (carol, dave) is a JupyterLab behind the first one's jupyter-server-proxy."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.fixtures.processes import assert_none_left, free_port, started_with

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/user/newcomer/"
LAB_TOKEN = "binder-user-token"  # what Binder's hub gives the user's browser
pytestmark = pytest.mark.slow


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect to the login page is the answer, not a page to follow


_opener = urllib.request.build_opener(_NoRedirect)


def _get(url: str, token: str | None = LAB_TOKEN, timeout: float = 240) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Binder:
    def __init__(self, home: Path, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.home = home
        self.data_dir = str(home / ".trevor-demo")
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}{PREFIX}"
        self.log = log

    def processes(self) -> list[psutil.Process]:
        return started_with("TREVOR_DATA_DIR", self.data_dir)


@pytest.fixture
def binder(tmp_path: Path) -> Iterator[Binder]:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TREVOR_", "JUPYTER"))}
    env |= {"HOME": str(home), "TREVOR_DEMO_BACKEND_PORT": str(free_port())}
    # repo2docker's entrypoint: binder/start with the single-user server's command line.
    cmd = ["bash", str(ROOT / "binder" / "start"), "jupyter", "lab", "--no-browser"]
    cmd += [f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.base_url={PREFIX}"]
    cmd += [f"--IdentityProvider.token={LAB_TOKEN}", f"--ServerApp.root_dir={ROOT}"]
    if os.getuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "binder.log"
    with log.open("wb") as out:
        # Its own session, as in a container: the test can stop the whole of it at the end.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    b = Binder(home, proc, port, log)
    try:
        deadline = time.monotonic() + 600
        while not _answers(b.url + "api/status"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield b
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
        assert_none_left("TREVOR_DATA_DIR", b.data_dir, "binder/start")


def _answers(url: str) -> bool:
    try:
        return _get(url, timeout=5)[0] == 200
    except OSError:  # not listening yet
        return False


def test_binder_plays_researcher_and_checker_and_stops_cleanly(binder: Binder) -> None:
    # The researcher's side: the lab Binder opens is alice's, in project p1.
    status, body = _get(binder.url + "trevor/api/users/me")
    assert status == 200, body
    assert json.loads(body)["username"] == "alice"

    # Each checker's side (two: a revision needs two reviews) is a Launcher tile, in a new tab.
    status, body = _get(binder.url + "server-proxy/servers-info")
    assert status == 200, body
    servers = {s["name"]: s for s in json.loads(body)["server_processes"]}
    assert sorted(servers) == ["trevor-checker-carol", "trevor-checker-dave"]
    for name in ("carol", "dave"):
        entry = servers[f"trevor-checker-{name}"]
        assert entry["launcher_entry"]["title"] == f"Airlock as checker {name}"
        assert entry["launcher_entry"]["path_info"] == f"trevor-checker-{name}/lab"
        assert entry["new_browser_tab"] is True

    # The first visit starts the checker's JupyterLab; it answers as that checker, through the
    # proxy, with only the researcher lab's own credentials in the request.
    for name in ("carol", "dave"):
        status, body = _get(binder.url + f"trevor-checker-{name}/trevor/api/users/me", timeout=400)
        assert status == 200, (body, binder.log.read_text())
        assert json.loads(body)["username"] == name
    checker = binder.url + "trevor-checker-carol/"
    status, body = _get(checker + "trevor/api/review-queue")
    assert status == 200, body
    status, page = _get(checker + "lab")
    assert status == 200, page
    assert b'"baseUrl": "/user/newcomer/trevor-checker-carol/"' in page, page[:2000]
    # Live events stream through the proxy (not buffered until the stream ends).
    req = urllib.request.Request(checker + "trevor/events")
    req.add_header("Authorization", f"token {LAB_TOKEN}")
    req.add_header("Accept", "text/event-stream")
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        assert r.readline().startswith(b"retry:")
    # No way round the researcher lab's login: without it the proxy refuses, and a checker's
    # lab itself wants the token only the proxy has.
    assert _get(checker + "trevor/api/users/me", token=None)[0] == 302  # to the login page
    labs = [p for p in binder.processes() if "/trevor-checker-" in " ".join(p.cmdline())]
    assert len(labs) == 2
    for lab in labs:
        cmdline = lab.cmdline()
        base_url = next(a for a in cmdline if a.startswith("--ServerApp.base_url="))
        direct = f"http://127.0.0.1:{cmdline[cmdline.index('--port') + 1]}"
        direct += base_url.split("=", 1)[1] + "trevor/api/users/me"
        assert _get(direct, token=None)[0] == 403
        assert _get(direct)[0] == 403
    # A checker's lab does not offer checkers' labs of its own.
    status, body = _get(checker + "server-proxy/servers-info")
    assert status == 200 and json.loads(body)["server_processes"] == [], body

    # In a browser: the researcher's Launcher offers the checker's lab, whose Airlock panel
    # signs in as carol and streams live events, both labs' logins side by side.
    _browse_as_newcomer(binder)

    # Binder stops the container's main process: it stops the checkers' labs with it.
    binder.proc.send_signal(signal.SIGTERM)
    binder.proc.wait(timeout=120)
    psutil.wait_procs(labs, timeout=60)
    assert [lab for lab in labs if lab.is_running() and lab.status() != psutil.STATUS_ZOMBIE] == []


def _browse_as_newcomer(binder: Binder) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.fixtures.lab import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            expect.set_options(timeout=120_000)
            page = browser.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{binder.url}lab?token={LAB_TOKEN}")
            expect(page.get_by_text("Airlock as checker carol")).to_be_visible()
            for lab, user in (("trevor-checker-carol/lab", "carol"), ("lab", "alice")):
                page.goto(binder.url + lab)
                page.locator('.lm-TabBar-tab[data-id="trevor-airlock"]').click()
                expect(page.locator(".trevor-whoami")).to_contain_text(user)
                expect(page.locator(".trevor-live-live")).to_be_visible()
        finally:
            browser.close()
