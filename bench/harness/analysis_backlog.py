"""Post-call analysis under load: a backlog of analysed-to-be calls, so that the workers' analysis
runners work through it for the whole measuring window while the live calls talk.

The calls that a step holds all end together, after its window, so their own analyses never overlap
the turns measured. Instead, before the step, `queue` writes `count` answered call records of the
load agent into the workers' database (through the store, as a node stores a record: each is queued
for analysis there), and `done` counts what the runners finished, read before and after the window.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from voicegrid.analytics.rollup import record_deltas
from voicegrid.core.ids import new_id
from voicegrid.store import make_engine, make_sessionmaker
from voicegrid.store.call_records import write_call_records
from voicegrid.store.models import CallRecord

PLAN = {
    "enabled": True,
    "schema": {
        "type": "object",
        "properties": {
            "party_size": {"type": "integer"},
            "date": {"type": "string", "format": "date"},
            "phone": {"type": "string"},
        },
    },
}
OFF = {"enabled": False}
TRANSCRIPT = [
    ("agent", "Hello, how can I help?"),
    ("caller", "are you open tonight"),
    ("agent", "We are open every day from 11 am to 10 pm."),
    (
        "caller",
        "a table for four people tomorrow at seven pm, my number is five five five two zero one three four",
    ),
    ("agent", "Yes, we are open until ten tonight."),
    ("caller", "do you deliver to the harbour"),
    ("agent", "We deliver to the harbour district."),
    ("caller", "thanks, bye"),
    ("agent", "Thank you for calling. Goodbye!"),
]


def _record(business_id: str, agent_id: str, at: datetime) -> dict[str, Any]:
    return {
        "record_version": 2,
        "id": new_id("call"),
        "sip_call_id": new_id("sip"),
        "business_id": business_id,
        "agent_id": agent_id,
        "direction": "inbound",
        "created_at": at.isoformat(),
        "answered_at": at.isoformat(),
        "ended_at": (at + timedelta(seconds=60)).isoformat(),
        "answered_s": 60.0,
        "duration_s": 60.0,
        "outcome": "completed",
        "transcript": [{"speaker": s, "text": t, "at": float(i)} for i, (s, t) in enumerate(TRANSCRIPT)],
        "tools": [{"name": "end_call", "ok": True, "arguments": "{}", "result": "ok", "at": 9.0}],
        "cost": {"currency": "USD", "total": 0.01, "billable_total": 0.01, "items": []},
        "latency": {"turns": [], "p50": {}, "p95": {}},
    }


async def _queue(database_url: str, business_id: str, agent_id: str, count: int) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC) - timedelta(minutes=5)
    try:
        for start in range(0, count, 500):
            batch = [_record(business_id, agent_id, now) for _ in range(min(500, count - start))]
            await write_call_records(sessions, batch, deltas=record_deltas)
    finally:
        await engine.dispose()


async def _done(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return int(
                await session.scalar(select(func.count()).where(CallRecord.analysis_state == "done")) or 0
            )
    finally:
        await engine.dispose()


def queue(database_url: str, business_id: str, agent_id: str, count: int) -> None:
    asyncio.run(_queue(database_url, business_id, agent_id, count))


def done(database_url: str) -> int:
    return asyncio.run(_done(database_url))
