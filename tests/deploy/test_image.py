"""The backend image as a TRE runs it: built from deploy/Containerfile with podman on a base made
from Debian packages (deploy/build-image.sh --debian-base), then its entrypoint run as the image's
non-root user on a read-only root against PostgreSQL and a SeaweedFS S3 server on loopback, for
the whole airlock journey.

This sandbox refuses ``podman run``, so the container is assembled by hand the way a runtime
would: the image's root (``podman image mount``) bind-mounted read-only in a private mount
namespace, a tmpfs on /tmp and the data volume on /var/lib/trevor, then ``chroot --userspec`` to
the image's USER with the image's Env, Entrypoint and Cmd. The network is the host's, so the
server reaches PostgreSQL and S3 on 127.0.0.1.

Cost: the first build on a machine takes 10 to 20 minutes on two busy cores (mmdebstrap base,
about 80 dependency wheels downloaded, podman's vfs driver copying each stage's root file
system); the base, the wheels (re-resolved only when the requirements change) and podman's store
are cached in the system temp directory, so a later run rebuilds the two stages from the cached
wheels and takes about 3 minutes with the journey (2 min 46 s measured on a loaded machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.journey import Released, release_journey
from tests.fixtures.backend import Client
from tests.fixtures.processes import free_port
from trevor_backend.demo import DEMO_WORLD

ROOT = Path(__file__).resolve().parents[2]
TAG = "localhost/trevor-backend:test"
CACHE = Path(
    os.environ.get("TREVOR_IMAGE_CACHE") or Path(tempfile.gettempdir()) / "trevor-image-cache"
)
PODMAN = [
    "podman",
    "--storage-driver=vfs",
    "--root",
    str(CACHE / "containers" / "storage"),
    "--runroot",
    str(CACHE / "containers" / "run"),
]
# The first build on a machine runs past the suite's 600 s default (see Cost above).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]


@dataclass
class Image:
    config: dict[str, Any]
    labels: dict[str, str]
    healthcheck: dict[str, Any] | None
    rootfs: Path

    @property
    def user(self) -> str:
        return str(self.config["User"])

    def env(self) -> dict[str, str]:
        return dict(e.split("=", 1) for e in self.config.get("Env") or [])


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    for tool in ("podman", "mmdebstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/setup.sh installs it)", pytrace=False)
    build = subprocess.run(
        ["bash", str(ROOT / "deploy" / "build-image.sh"), "--debian-base", TAG],
        capture_output=True,
        text=True,
        timeout=1800,
        env=os.environ | {"TREVOR_IMAGE_CACHE": str(CACHE), "PYTHON": sys.executable},
    )
    assert build.returncode == 0, build.stderr[-5000:]
    (info,) = json.loads(
        subprocess.run([*PODMAN, "image", "inspect", TAG], capture_output=True, check=True).stdout
    )
    mounted = subprocess.run(
        [*PODMAN, "image", "mount", TAG], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield Image(
            info["Config"],
            info["Config"].get("Labels") or {},
            # podman keeps the Docker-format HEALTHCHECK beside the config, Docker inside it.
            info.get("Healthcheck") or info["Config"].get("Healthcheck"),
            Path(mounted),
        )
    finally:
        subprocess.run([*PODMAN, "image", "unmount", TAG], capture_output=True)


def container(
    image: Image, workdir: Path, data: Path, argv: list[str], env: dict[str, str]
) -> list[str]:
    """The command that runs ``argv`` in the image as a runtime with a read-only root would."""
    root = workdir / "root"
    root.mkdir(exist_ok=True)
    user = image.user if ":" in image.user else f"{image.user}:{image.user}"
    environment = image.env() | env
    script = " && ".join(
        [
            f"mount --bind {image.rootfs} {root}",
            f"mount -o remount,ro,bind {root}",
            f"mount -t tmpfs -o mode=1777 tmpfs {root}/tmp",
            f"mount --bind {data} {root}/var/lib/trevor",
            f"mount -t proc proc {root}/proc",
            f"mount --rbind /dev {root}/dev",
            "exec chroot --userspec="
            + user
            + f" {root} env -i "
            + " ".join(shlex.quote(f"{k}={v}") for k, v in environment.items())
            + " "
            + " ".join(shlex.quote(a) for a in argv),
        ]
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def run_in(image: Image, workdir: Path, data: Path, argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        container(image, workdir, data, argv, env), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


async def journey(base: str, tokens: dict[str, str]) -> Released:
    clients = {user: Client(base, token) for user, token in tokens.items()}
    return await release_journey(clients, "Admissions in the image")


def test_image_metadata(image: Image) -> None:
    assert image.user == "10001:10001"
    assert image.config["Entrypoint"] == ["/opt/trevor/bin/trevor-backend"]
    assert image.config["Cmd"] == ["serve", "--ip=0.0.0.0"]
    assert image.env()["TREVOR_DATA_DIR"] == "/var/lib/trevor"
    assert image.healthcheck is not None and "/health" in " ".join(image.healthcheck["Test"])
    for label in ("title", "version", "revision", "source", "licenses", "created"):
        assert image.labels.get(f"org.opencontainers.image.{label}"), label
    # No compiler, build system or package installer in the final stage.
    for tool in ("gcc", "cc", "make", "g++", "ld"):
        assert not (image.rootfs / "usr" / "bin" / tool).exists(), tool
    assert not list((image.rootfs / "opt" / "trevor" / "bin").glob("pip*"))
    assert not (image.rootfs / "dist").exists()


def test_journey_in_the_image_as_non_root_on_a_read_only_root(
    image: Image, tmp_path: Path, postgres_url: str, s3_server: Any
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    uid, gid = (int(x) for x in image.user.split(":"))
    os.chown(data, uid, gid)
    (tmp_path / "projects.yaml").write_text(yaml.safe_dump(DEMO_WORLD))
    shutil.copy(tmp_path / "projects.yaml", data / "projects.yaml")
    os.chown(data / "projects.yaml", uid, gid)
    bucket = s3_server.create_bucket()
    port = free_port()
    env = s3_server.env() | {
        "TREVOR_DATABASE_URL": postgres_url,
        "TREVOR_STORAGE_URL": f"s3://{bucket}",
        "TREVOR_SECRET_KEY": "test-signing-key-" + "x" * 32,
        "TREVOR_PORT": str(port),
        "TREVOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    entry = image.config["Entrypoint"]

    # The root is read-only for the image's user, /tmp and the data volume are writable.
    probe = run_in(
        image,
        tmp_path,
        data,
        [
            "/bin/sh",
            "-c",
            "id -u; touch /opt/trevor/x 2>&1; touch /etc/x 2>&1; "
            "touch /tmp/ok /var/lib/trevor/ok && echo writable",
        ],
        env,
    )
    lines = probe.splitlines()
    assert lines[0] == str(uid)
    assert sum("Read-only file system" in line for line in lines) == 2, probe
    assert lines[-1] == "writable"

    # The deployment's steps (the migration Job, the sync-projects CronJob), through the image.
    assert "database at revision" in run_in(image, tmp_path, data, [*entry, "db", "upgrade"], env)
    run_in(image, tmp_path, data, [*entry, "sync-projects", "/var/lib/trevor/projects.yaml"], env)
    tokens = {
        user: run_in(image, tmp_path, data, [*entry, "token", "create", user], env).strip()
        for user in ("alice", "carol", "dave")
    }

    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        container(image, tmp_path, data, [*entry, *image.config["Cmd"]], env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(base + "/ready", timeout=2) as reply:
                    assert json.loads(reply.read())["checks"]["store"] == "ok"
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.5)
        # The serving process is the image's user (exec all the way: unshare, sh, chroot).
        status = Path(f"/proc/{server.pid}/status").read_text()
        assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status, status

        released = asyncio.run(journey(base, tokens))

        # The objects went to S3.
        s3 = s3_server.client()
        try:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        finally:
            s3.close()
        assert any(released.rid in k for k in keys), keys
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    # SIGTERM is a clean shutdown (Kubernetes sends it before removing a pod).
    assert server.returncode == 0, (tmp_path / "server.log").read_text()
