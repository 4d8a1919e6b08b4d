"""Alembic environment: runs on a connection handed in by voicegrid.store.migrate."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from voicegrid.store.models import Base
from voicegrid.store.types import UTCDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations stay self-contained: our UTC decorator is a plain timezone-aware DateTime on disk.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through voicegrid.store.migrate (it passes the connection)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline SQL generation is not supported; migrations run online")
run_migrations_online()
