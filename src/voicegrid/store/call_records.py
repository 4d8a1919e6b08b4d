"""Call records in the database: written from the journal (an upsert by id, so a replay is harmless),
read back for the API, newest first."""

import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.store.analyses import PlanCache, kept_analysis, pending_analysis
from voicegrid.store.models import Business, CallField, CallRecord, CallRollup, ProviderRollup
from voicegrid.store.rollups import RecordDeltas, add_to_rollups


def _row(record: dict[str, Any]) -> CallRecord:
    cost = record.get("cost") or {}
    return CallRecord(
        id=record["id"],
        business_id=record.get("business_id"),
        agent_id=record.get("agent_id"),
        sip_call_id=(record.get("sip_call_id") or "")[:300],  # the column's size; SIP holds it to 255
        direction=record.get("direction") or "inbound",
        outcome=record.get("outcome"),
        created_at=datetime.fromisoformat(record["created_at"]),
        ended_at=datetime.fromisoformat(record["ended_at"]) if record.get("ended_at") else None,
        duration_s=float(record.get("duration_s") or 0.0),
        cost_total=float(cost.get("total") or 0.0),
        billable_total=float(cost.get("billable_total") or 0.0),
        record=record,
    )


def record_refused(exc: Exception) -> bool:
    """Whether the store refused a record itself (a value too long, a constraint, a malformed record),
    as opposed to being away: such a record is set aside, and the records behind it go on."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    return isinstance(exc, KeyError | ValueError | TypeError) and not isinstance(exc, DBAPIError)


Deltas = Callable[[dict[str, Any]], tuple[dict[str, Any], list[dict[str, Any]]]]


async def write_call_records(
    sessions: async_sessionmaker[AsyncSession], records: list[dict[str, Any]], deltas: Deltas | None = None
) -> None:
    """Store records; with `deltas` (what a record adds to its day's rollups), add each new record to
    the rollups in the same transaction. A record seen before (a journal replay) is rewritten but not
    counted twice, and one whose content was erased stays erased. A record of a business that was
    deleted is not written: the business's records went with it.

    A batch reads what it needs once: its businesses and its records already stored in one query
    each, each agent's analysis plan once, each rollup row once (`add_to_rollups`). Read record by
    record, each record of a batch of 200 cost about 9 ms of CPU; now about 0.5 (bench/call_end.py)."""
    async with sessions() as session, session.begin():
        named = {r["business_id"] for r in records if r.get("business_id")}
        present = set(await session.scalars(select(Business.id).where(Business.id.in_(named))))
        ids = {r["id"] for r in records}
        known = {
            row.id: row for row in await session.scalars(select(CallRecord).where(CallRecord.id.in_(ids)))
        }
        plans: PlanCache = {}
        counted: list[RecordDeltas] = []
        for record in records:
            business_id = record.get("business_id")
            if business_id and business_id not in present:
                continue
            before = known.get(record["id"])
            row = _row(record)
            if before is not None and before.content_erased_at is not None:
                row = _row(without_content(record, before.content_erased_at))
                row.content_erased_at = before.content_erased_at
            if before is None:
                await pending_analysis(session, row, time.time(), plans)
                session.add(row)
                known[row.id] = row  # twice in one batch: the second is merged onto it
            else:
                kept_analysis(row, before)
                await session.merge(row)  # onto the row read above (or added): no query of its own
            if deltas is not None and before is None and business_id:
                counted.append(deltas(record))
        if counted:
            await add_to_rollups(session, counted)


async def delete_business_records(session: AsyncSession, business_id: str) -> int:
    """Every call record of a business and its rollups (when the business itself is deleted)."""
    count = await session.scalar(select(func.count()).where(CallRecord.business_id == business_id))
    await session.execute(delete(CallRecord).where(CallRecord.business_id == business_id))
    await session.execute(delete(CallField).where(CallField.business_id == business_id))
    await session.execute(delete(CallRollup).where(CallRollup.business_id == business_id))
    await session.execute(delete(ProviderRollup).where(ProviderRollup.business_id == business_id))
    return int(count or 0)


READ_VERSION = 2  # records are stored as written, and read in this version (analytics.record's)
V1_NAMES = {"llm_ttft_ms": "llm_first_token_ms", "tts_ttfb_ms": "tts_first_audio_ms"}


def _renamed(row: dict[str, Any]) -> dict[str, Any]:
    return {V1_NAMES.get(k, k): v for k, v in row.items()}


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record in the current version's names: version 1 named two latency intervals
    otherwise (`llm_ttft_ms`, `tts_ttfb_ms`) and had no `transport` (every call was SIP then)."""
    if int(record.get("record_version") or 1) >= READ_VERSION:
        return record
    latency = dict(record.get("latency") or {})
    latency["turns"] = [_renamed(t) for t in latency.get("turns", [])]
    for q in ("p50", "p95"):
        if isinstance(latency.get(q), dict):
            latency[q] = _renamed(latency[q])
    return {
        **record,
        "record_version": READ_VERSION,
        "transport": record.get("transport") or "sip",
        "latency": latency,
    }


async def get_call_record(session: AsyncSession, business_id: str, call_id: str) -> dict[str, Any] | None:
    row = await session.get(CallRecord, call_id)
    if row is None or row.business_id != business_id:
        return None
    return upgrade(dict(row.record))


async def list_call_records(
    session: AsyncSession,
    business_id: str,
    *,
    limit: int = 50,
    before: datetime | None = None,
    since: datetime | None = None,
    agent_id: str | None = None,
    direction: str | None = None,
    outcome: str | None = None,
    sip_call_id: str | None = None,
    after: tuple[datetime, str] | None = None,
    success: bool | None = None,
    field: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Newest first; `after` a (created_at, id) key: only records older than it (a page's cursor)."""
    stmt = select(CallRecord).where(CallRecord.business_id == business_id)
    if before is not None:
        stmt = stmt.where(CallRecord.created_at < before)
    if after is not None:
        stmt = stmt.where(
            or_(
                CallRecord.created_at < after[0],
                and_(CallRecord.created_at == after[0], CallRecord.id < after[1]),
            )
        )
    if since is not None:
        stmt = stmt.where(CallRecord.created_at >= since)
    for column, value in (
        (CallRecord.agent_id, agent_id),
        (CallRecord.direction, direction),
        (CallRecord.outcome, outcome),
        (CallRecord.sip_call_id, sip_call_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if success is not None:
        stmt = stmt.where(CallRecord.analysis_success.is_(success))
    if field is not None:
        stmt = stmt.where(
            select(CallField.call_id)
            .where(
                CallField.call_id == CallRecord.id,
                CallField.business_id == business_id,
                CallField.name == field[0],
                CallField.value == field[1],
            )
            .exists()
        )
    rows = await session.scalars(
        stmt.order_by(CallRecord.created_at.desc(), CallRecord.id.desc()).limit(limit)
    )
    return [upgrade(dict(row.record)) for row in rows]


async def iter_call_records(
    session: AsyncSession, business_id: str, first: datetime, last: datetime, batch: int = 100
) -> AsyncIterator[dict[str, Any]]:
    """A business's records created in [first, last), oldest first, read in keyset batches (an
    export of a month streams without holding the month in memory). The batch is small: the records
    of a batch are freed, but a serving node keeps most of the heap they grew into, so a batch's
    size (whole records, transcripts and all) is what an export costs the node's RSS for good."""
    after: tuple[datetime, str] | None = None
    while True:
        stmt = select(CallRecord).where(
            CallRecord.business_id == business_id,
            CallRecord.created_at >= first,
            CallRecord.created_at < last,
        )
        if after is not None:
            stmt = stmt.where(
                or_(
                    CallRecord.created_at > after[0],
                    and_(CallRecord.created_at == after[0], CallRecord.id > after[1]),
                )
            )
        rows = list(await session.scalars(stmt.order_by(CallRecord.created_at, CallRecord.id).limit(batch)))
        for row in rows:
            yield upgrade(dict(row.record))
        if len(rows) < batch:
            return
        after = (rows[-1].created_at, rows[-1].id)


def without_content(record: dict[str, Any], when: datetime) -> dict[str, Any]:
    """The record with what was said taken out (transcript, tool arguments, the recording link);
    its times, outcome, cost and latency figures stay."""
    erased = dict(record)
    erased["transcript"] = []
    erased["recording"] = None
    erased["tools"] = [{"name": t.get("name"), "at": t.get("at")} for t in record.get("tools") or []]
    if isinstance(record.get("analysis"), dict):  # what the analysis took from the words goes too
        gone = ("summary", "entities", "extracted", "extraction_errors", "follow_up", "reason")
        erased["analysis"] = {k: v for k, v in record["analysis"].items() if k not in gone}
    erased["content_erased_at"] = when.isoformat()
    return erased


async def erase_content(session: AsyncSession, business_id: str, call_id: str, when: datetime) -> bool:
    row = await session.get(CallRecord, call_id)
    if row is None or row.business_id != business_id:
        return False
    row.record = without_content(row.record, when)
    row.content_erased_at = when
    await session.execute(delete(CallField).where(CallField.call_id == call_id))
    await session.commit()
    return True


async def expired_content(session: AsyncSession, now: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """(business, call) of records past their business's retention whose content is still there."""
    businesses = await session.scalars(select(Business).where(Business.retention_days.is_not(None)))
    found: list[tuple[str, str]] = []
    for business in businesses:
        cutoff = now - timedelta(days=business.retention_days or 0)
        ids = await session.scalars(
            select(CallRecord.id)
            .where(
                CallRecord.business_id == business.id,
                CallRecord.created_at < cutoff,
                CallRecord.content_erased_at.is_(None),
            )
            .limit(limit - len(found))
        )
        found += [(business.id, call_id) for call_id in ids]
        if len(found) >= limit:
            break
    return found
