"""Shared fixtures: databases (SQLite always, PostgreSQL when TREVOR_TEST_DATABASE_URL is set),
a real backend HTTP server per test, and an API client per demo user."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.seaweedfs",
    "tests.fixtures.backend",
    "tests.fixtures.smtp",
    "tests.fixtures.lab",
]

ROOT = Path(__file__).resolve().parent.parent

# Tools started by tests must not write into the developer's home directory.
for var, sub in {
    "JUPYTER_CONFIG_DIR": "jupyter/config",
    "JUPYTER_DATA_DIR": "jupyter/data",
    "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
}.items():
    os.environ.setdefault(var, str(ROOT / ".cache" / sub))

# Property tests run the same examples on every run (derandomized, no example database), so
# CI is not flaky and a developer's .hypothesis directory does not change the suite's verdict;
# a failure found once is kept as an @example. `--hypothesis-profile=explore` (or
# TREVOR_HYPOTHESIS_PROFILE=explore) searches new random examples, TREVOR_HYPOTHESIS_EXAMPLES
# of them per test, replaying failures saved in .hypothesis (docs/decisions.md, issue 11).
_PROPERTY = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("trevor", derandomize=True, database=None, max_examples=40, **_PROPERTY)
settings.register_profile(
    "explore", max_examples=int(os.environ.get("TREVOR_HYPOTHESIS_EXAMPLES", "1000")), **_PROPERTY
)
settings.load_profile(os.environ.get("TREVOR_HYPOTHESIS_PROFILE", "trevor"))

PG_URL = os.environ.get("TREVOR_TEST_DATABASE_URL")
DB_KINDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def pytest_report_header(config: pytest.Config) -> str:
    return f"trevor databases under test: {', '.join(DB_KINDS)}"


async def _pg_admin(sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def _template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("db-templates")


async def _fresh_postgres() -> AsyncIterator[str]:
    from sqlalchemy.engine import make_url

    name = f"trevor_t_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DB_KINDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty (unmigrated) database of each kind under test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trevor.sqlite'}"
        return
    async for url in _fresh_postgres():
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, for behaviour only PostgreSQL has (several backend
    processes sharing one database). scripts/test.sh points TREVOR_TEST_DATABASE_URL at the
    local server whenever one answers; without it these tests fail rather than skip."""
    if not PG_URL:
        pytest.fail("this test needs PostgreSQL: set TREVOR_TEST_DATABASE_URL")
    async for url in _fresh_postgres():
        yield url


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "data"
    d.mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)
