"""Shared fixtures: a real PostgreSQL for the whole session, and a database per test on either engine."""

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.virtual_time import VirtualTimeLoop
from voicegrid.store import make_engine, upgrade
from voicegrid.testing.postgres_server import PostgresServer, start_postgres
from voicegrid.testing.redis_server import RedisServer, start_redis

ENGINES = ["sqlite", "postgresql"]
_counter = itertools.count()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Tests marked `virtual_time` run on a loop whose clock jumps instead of sleeping."""
    if item.get_closest_marker("virtual_time") is not None:
        return {"virtual": VirtualTimeLoop}
    return {"real": asyncio.new_event_loop}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(
    engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """An empty database on the engine under test: a SQLite file, or a new PostgreSQL database."""
    if engine_name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'voicegrid.db'}"
        return
    async with _postgres_database(request) as url:
        yield url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "voicegrid.db"
    _apart(lambda: _migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def _postgres_template(postgres: PostgresServer) -> str:
    """A PostgreSQL database migrated to head once per session, the template of each test's copy."""
    name = "voicegrid_template"

    async def make() -> None:
        await _admin(postgres, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        await _migrate(postgres.url(name))

    _apart(make)
    return name


async def _admin(server: PostgresServer, *statements: str) -> None:
    admin = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


@asynccontextmanager
async def _postgres_database(
    request: pytest.FixtureRequest, template: str | None = None
) -> AsyncIterator[str]:
    """A new database of the session's PostgreSQL for this test (a copy of `template`), dropped after."""
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t{next(_counter)}_{abs(hash(request.node.nodeid)) % 10**8}"
    await _admin(server, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield server.url(name)
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _apart(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `work` to the end on a loop of its own thread (a test's loop may be running in this one)."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, work()).result()


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def migrated_database_url(
    engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A database already migrated to head (a copy of the session's template): for tests of what runs
    on the schema, not of the migrations (those take `database_url`, an empty one)."""
    if engine_name == "sqlite":
        target = tmp_path / "voicegrid.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    async with _postgres_database(request, template=request.getfixturevalue("_postgres_template")) as url:
        yield url
