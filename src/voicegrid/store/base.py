"""The tables' declarative base: its naming convention, column types, and the mixins tables share."""

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Float, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from voicegrid.core.clock import utcnow
from voicegrid.store.types import UTCDateTime

ID = String(40)


# Named constraints, so that later batch migrations on SQLite can find and alter them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LimitColumns:
    max_concurrent_calls: Mapped[int | None] = mapped_column(Integer)
    max_outbound_cps: Mapped[float | None] = mapped_column(Float)
    monthly_minutes: Mapped[int | None] = mapped_column(Integer)
    reserved_inbound_calls: Mapped[int | None] = mapped_column(Integer)
