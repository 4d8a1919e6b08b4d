"""Database engines and sessions: one code path for SQLite (the default) and PostgreSQL."""

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from voicegrid.store.errors import DatabaseUnavailable

CONNECT_TIMEOUT_S = 5.0


def safe_url(url: str) -> str:
    """The URL as it may be shown in logs and errors: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL must still be reportable, whatever the parser raised
        return "<unparsable database URL>"


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": CONNECT_TIMEOUT_S})
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args = {"timeout": CONNECT_TIMEOUT_S, "command_timeout": 30}
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def check_database(engine: AsyncEngine, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise DatabaseUnavailable, naming the URL without its password, unless a query answers."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseUnavailable(url, f"no answer within {timeout_s:g} s") from None
    except Exception as exc:  # every driver has its own exception tree; all mean 'unreachable'
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseUnavailable(url, reason) from exc
