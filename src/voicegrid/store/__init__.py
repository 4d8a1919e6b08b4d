"""Storage: SQLAlchemy models, engines for SQLite and PostgreSQL, and Alembic migrations."""

from voicegrid.store.engine import check_database, make_engine, make_sessionmaker, safe_url
from voicegrid.store.errors import DatabaseUnavailable, StoreError
from voicegrid.store.migrate import downgrade, upgrade

__all__ = [
    "DatabaseUnavailable",
    "StoreError",
    "check_database",
    "downgrade",
    "make_engine",
    "make_sessionmaker",
    "safe_url",
    "upgrade",
]
