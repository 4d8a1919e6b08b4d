"""Migrations upgrade from empty and downgrade to empty, on SQLite and PostgreSQL alike."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from voicegrid.store import downgrade, make_engine, upgrade
from voicegrid.store.migrate import current_revision, head_revision
from voicegrid.store.models import Base


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_migrations_build_every_table_from_empty_and_remove_them_all(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
    finally:
        await engine.dispose()


async def test_the_migrated_schema_matches_the_models_exactly(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_upgrading_twice_is_harmless(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
