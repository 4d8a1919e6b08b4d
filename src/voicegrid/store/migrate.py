"""Alembic migrations run in-process, on the same async engine the server uses.

A node that starts on a database already at the head reads the version row and goes on: alembic (about
40 MB and 0.3 s of import) is imported only when there is a migration to run.
"""

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION = re.compile(r'^(down_revision|revision)\b[^=\n]*=\s*(?:"([0-9A-Za-z_]{1,32})"|None)', re.MULTILINE)


def _load_alembic() -> None:
    """Import alembic (only when a migration runs or its revision is asked), with pygments refused:
    mako, which alembic imports, loads it only to colour its own error pages (about 4 MB a node that
    migrated kept), and does without it."""
    if "alembic.runtime.migration" in sys.modules:
        return
    refused = "pygments" not in sys.modules
    if refused:
        sys.modules["pygments"] = None  # type: ignore[assignment]  # import pygments: ImportError
    try:
        import alembic.command
        import alembic.config
        import alembic.runtime.migration  # noqa: F401
    finally:
        if refused:
            sys.modules.pop("pygments", None)


def alembic_config() -> "Config":
    _load_alembic()
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _run(conn: Connection, op: str, revision: str) -> None:
    cfg = alembic_config()
    from alembic import command

    cfg.attributes["connection"] = conn
    if op == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    if revision == "head" and await _version_row(engine) == head_revision():
        return  # nothing to run: alembic is not even imported
    async with engine.begin() as conn:
        await conn.run_sync(_run, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_run, "downgrade", revision)


async def _version_row(engine: AsyncEngine) -> str | None:
    """The revision alembic's version table holds; None when there is no such table or row."""
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except SQLAlchemyError:  # a new database: no version table yet
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def _current(conn: Connection) -> str | None:
    _load_alembic()
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    """The one revision no other revision names as its `down_revision`, read from our own migration
    files (a test holds it equal to alembic's own answer); None if there is not exactly one."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION.findall(path.read_text()):
            if value:
                (revisions if name == "revision" else downs).add(value)
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None
