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


RecordDeltas = tuple[dict[str, Any], list[dict[str, Any]]]  # one record's: its call row's, its providers'


async def add_to_rollups(session: AsyncSession, deltas: list[RecordDeltas]) -> None:
    """Each record's `call` and `providers` (as analytics computes them, `analytics.rollup`), added
    to the rows in the records' order. Each row is read (and locked) once for the whole batch, the
    call rows first, then the provider rows, each in key order: nodes storing batches of the same
    business and day lock the same rows in the same order, so they wait for each other and never
    deadlock."""
    call_keys = sorted({_call_key(call) for call, _ in deltas})
    provider_keys = sorted({_provider_key(p) for _, providers in deltas for p in providers})
    calls = {key: await _call_row(session, key) for key in call_keys}
    units: dict[tuple[str, str, str, str], str] = {}
    for _, providers in deltas:
        for delta in providers:
            units.setdefault(_provider_key(delta), delta["unit"])  # as the row's first record says
    rows = {key: await _provider_row(session, key, units[key]) for key in provider_keys}
    for call, providers in deltas:
        row = calls[_call_key(call)]
        for name in CALL_SUMS:
            setattr(row, name, getattr(row, name) + call[name])
        row.outcomes = added(row.outcomes, call["outcomes"])  # new dicts: JSON changes by assignment
        row.latency = {
            name: added((row.latency or {}).get(name), call["latency"].get(name, {}))
            for name in {*(row.latency or {}), *call["latency"]}
        }
        for delta in providers:
            prow = rows[_provider_key(delta)]
            for name in PROVIDER_SUMS:
                setattr(prow, name, getattr(prow, name) + delta[name])
            prow.latency = added(prow.latency, delta["latency"])


def _call_key(call: dict[str, Any]) -> tuple[str, str, str, str]:
    return (call["business_id"], call["day"], call["agent_id"], call["direction"])


def _provider_key(delta: dict[str, Any]) -> tuple[str, str, str, str]:
    return (delta["business_id"], delta["day"], delta["stage"], delta["provider"])


async def _call_row(session: AsyncSession, key: tuple[str, str, str, str]) -> CallRollup:
    row = await session.get(CallRollup, key, with_for_update=True)
    if row is None:
        row = CallRollup(
            business_id=key[0], day=key[1], agent_id=key[2], direction=key[3], outcomes={}, latency={}
        )
        for name in (*CALL_SUMS, *ANALYSIS_SUMS):
            setattr(row, name, 0)
        row.intents, row.intents_answered = {}, {}
        session.add(row)
    return row


async def _provider_row(session: AsyncSession, key: tuple[str, str, str, str], unit: str) -> ProviderRollup:
    row = await session.get(ProviderRollup, key, with_for_update=True)
    if row is None:
        row = ProviderRollup(
            business_id=key[0], day=key[1], stage=key[2], provider=key[3], unit=unit, latency={}
        )
        for name in PROVIDER_SUMS:
            setattr(row, name, 0)
        session.add(row)
    return row


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
