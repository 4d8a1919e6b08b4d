"""Rollup rows: added to as each record is stored, read back raw for any range of days.

The arithmetic (what a record adds, how rows sum, percentiles from histograms) is analytics'; this
module only keeps the rows. Counts in JSON columns (outcomes, latency histograms) are added key by
key. Rows are locked while updated (PostgreSQL), so nodes storing calls of the same business and day
do not lose each other's counts.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.store.models import CallRollup, ProviderRollup

CALL_SUMS = ("calls", "answered", "minutes", "cost", "billable", "turns", "failovers", "interruptions")
PROVIDER_SUMS = ("calls", "quantity", "cost", "failovers")
ANALYSIS_SUMS = ("analyzed", "succeeded", "analyzed_cost", "analysis_cost")


def added(counts: dict[str, Any] | None, more: dict[str, Any]) -> dict[str, Any]:
    out = dict(counts or {})
    for key, value in more.items():
        out[key] = out.get(key, 0) + value
    return out


async def add_to_rollups(
    session: AsyncSession, call: dict[str, Any], providers: list[dict[str, Any]]
) -> None:
    """`call` and `providers` as analytics computes them for one record (see `analytics.rollup`)."""
    key = (call["business_id"], call["day"], call["agent_id"], call["direction"])
    row = await session.get(CallRollup, key, with_for_update=True)
    if row is None:
        row = CallRollup(
            business_id=key[0], day=key[1], agent_id=key[2], direction=key[3], outcomes={}, latency={}
        )
        for name in (*CALL_SUMS, *ANALYSIS_SUMS):
            setattr(row, name, 0)
        row.intents, row.intents_answered = {}, {}
        session.add(row)
    for name in CALL_SUMS:
        setattr(row, name, getattr(row, name) + call[name])
    row.outcomes = added(row.outcomes, call["outcomes"])  # new dicts: JSON changes by assignment
    row.latency = {
        name: added((row.latency or {}).get(name), call["latency"].get(name, {}))
        for name in {*(row.latency or {}), *call["latency"]}
    }
    for delta in providers:
        pkey = (delta["business_id"], delta["day"], delta["stage"], delta["provider"])
        prow = await session.get(ProviderRollup, pkey, with_for_update=True)
        if prow is None:
            prow = ProviderRollup(
                business_id=pkey[0],
                day=pkey[1],
                stage=pkey[2],
                provider=pkey[3],
                unit=delta["unit"],
                latency={},
            )
            for name in PROVIDER_SUMS:
                setattr(prow, name, 0)
            session.add(prow)
        for name in PROVIDER_SUMS:
            setattr(prow, name, getattr(prow, name) + delta[name])
        prow.latency = added(prow.latency, delta["latency"])


def _as_dict(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


async def call_rollups(
    session: AsyncSession, business_id: str, first_day: str, last_day: str, direction: str | None = None
) -> list[dict[str, Any]]:
    query = select(CallRollup).where(
        CallRollup.business_id == business_id, CallRollup.day >= first_day, CallRollup.day <= last_day
    )
    if direction is not None:
        query = query.where(CallRollup.direction == direction)
    rows = await session.scalars(query)
    names = ("day", "agent_id", "direction", *CALL_SUMS, *ANALYSIS_SUMS, "outcomes", "latency")
    return [_as_dict(r, (*names, "intents", "intents_answered")) for r in rows]


async def provider_rollups(
    session: AsyncSession, business_id: str, first_day: str, last_day: str
) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(ProviderRollup).where(
            ProviderRollup.business_id == business_id,
            ProviderRollup.day >= first_day,
            ProviderRollup.day <= last_day,
        )
    )
    return [_as_dict(r, ("day", "stage", "provider", "unit", *PROVIDER_SUMS, "latency")) for r in rows]
