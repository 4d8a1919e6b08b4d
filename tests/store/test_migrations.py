"""Migrations upgrade from empty and downgrade to empty, on SQLite and PostgreSQL alike."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
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


ROLLUP = {
    "calls": 2, "answered": 2, "minutes": 1.5, "cost": 0.02, "billable": 0.03, "turns": 4, "failovers": 0,
    "interruptions": 1, "outcomes": {"completed": 2}, "latency": {"voice_to_voice": {"40": 3}},
}  # fmt: skip
KEY = {"business_id": "biz_1", "day": "2026-11-02", "agent_id": "agt_1"}


def _rollups(*key: str) -> sa.TableClause:
    """call_rollups as a revision sees it: keyed by `key`."""
    sums = [sa.column(n) for n in ROLLUP if n not in ("outcomes", "latency")]
    return sa.table("call_rollups", *map(sa.column, key), *sums, sa.column("outcomes", sa.JSON()),
                    sa.column("latency", sa.JSON()))  # fmt: skip


async def test_rollups_summed_before_directions_were_kept_stay_and_a_downgrade_adds_directions_together(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    before, after = _rollups(*KEY), _rollups(*KEY, "direction")
    try:
        await upgrade(engine, "0011")
        async with engine.begin() as conn:
            await conn.execute(sa.insert(before), [{**KEY, **ROLLUP}])
        await upgrade(engine)
        async with engine.begin() as conn:
            [old] = (await conn.execute(sa.select(after))).mappings().all()
            assert (old["direction"], old["calls"]) == ("", 2)  # not known: reported as "unknown"
            await conn.execute(sa.insert(after), [{**KEY, **ROLLUP, "direction": "outbound"}])
        await downgrade(engine, "0011")
        async with engine.connect() as conn:
            [merged] = (await conn.execute(sa.select(before))).mappings().all()
    finally:
        await engine.dispose()
    assert (merged["calls"], merged["minutes"], merged["interruptions"]) == (4, 3.0, 2)
    assert merged["outcomes"] == {"completed": 4}
    assert merged["latency"] == {"voice_to_voice": {"40": 6}}


def test_the_head_read_from_the_migration_files_is_alembics_own_head() -> None:
    from alembic.script import ScriptDirectory

    from voicegrid.store.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_node_on_a_database_at_the_head_does_not_import_alembic(tmp_path: Path) -> None:
    """alembic costs about 40 MB and 0.3 s of a node's start; on an up-to-date database it is not
    needed. A fresh interpreter, so that nothing of the suite's own imports counts."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'at-head.db'}"
    script = (
        "import asyncio, sys\n"
        "from voicegrid.store import make_engine, upgrade\n"
        "async def main() -> None:\n"
        f"    engine = make_engine({url!r})\n"
        "    await upgrade(engine)\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert first.stdout.strip() == "True", first.stderr  # a new database: migrated by alembic
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == "False", again.stderr  # at the head: alembic never imported
