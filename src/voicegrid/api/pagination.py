"""Cursor pagination over time-ordered ids: the cursor is the last id of the page, made opaque."""

import base64
import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from voicegrid.tenancy import InvalidInput

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


_ID = re.compile(r"[A-Za-z0-9_]{1,40}")


def _opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _reveal(cursor: str) -> str:
    """The text inside a cursor; "" for anything that is not one (it then fails its check: a 422)."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except ValueError:  # binascii.Error, UnicodeDecodeError and non-ASCII input are all ValueErrors
        return ""


def _not_ours() -> InvalidInput:
    return InvalidInput("cursor", "not a cursor this API returned", location="query")


def _decode(cursor: str) -> str:
    """The id inside a cursor; anything this API did not hand out is a 422, never a 500."""
    last = _reveal(cursor)
    if not _ID.fullmatch(last):
        raise _not_ours()
    return last


def encode_time_key(created_at: datetime, last_id: str) -> str:
    """A cursor after (`created_at`, `last_id`), for lists ordered by time then id."""
    return _opaque(f"{created_at.isoformat()}|{last_id}")


def decode_time_key(cursor: str) -> tuple[datetime, str]:
    """The (time, id) inside a cursor of `encode_time_key`; anything else is a 422."""
    stamp, _, last = _reveal(cursor).partition("|")
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        raise _not_ours() from None
    if not _ID.fullmatch(last) or when.tzinfo is None:
        raise _not_ours()
    return when, last


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[str],
    params: PageParams,
    *,
    newest_first: bool = False,
) -> tuple[list[Any], str | None]:
    if params.cursor:
        last = _decode(params.cursor)
        stmt = stmt.where(id_column < last if newest_first else id_column > last)
    stmt = stmt.order_by(id_column.desc() if newest_first else id_column).limit(params.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return rows, (_opaque(getattr(rows[-1], id_column.key)) if more and rows else None)
