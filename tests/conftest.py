"""Shared fixtures: a real PostgreSQL for the whole session, and a database per test on either engine."""

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from voicegrid.testing.postgres_server import PostgresServer, start_postgres
from voicegrid.testing.redis_server import RedisServer, start_redis

ENGINES = ["sqlite", "postgresql"]
_counter = itertools.count()


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
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t{next(_counter)}_{abs(hash(request.node.nodeid)) % 10**8}"
    admin = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield server.url(name)
    admin = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
