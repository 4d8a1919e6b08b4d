"""Post-call analyses in the database: which records wait for one, claimed by compare-and-set so
that one runner at a time works on each (a runner's claim holds it a lease long; a runner that dies
lets it lapse, and another takes it), and the finished analysis written into its record, the
record's cost, the extracted fields and the day's rollup in one transaction.

The analysis is queued where the record is stored (`pending_analysis`, called by
`call_records.write_call_records`), so a record that waited in the journal through a database
outage is analysed once it lands, whichever node stores it.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.store.models import Agent, CallField, CallRecord, CallRollup
from voicegrid.store.rollups import ANALYSIS_SUMS, added

MAX_FIELD_VALUE = 200


@dataclass(frozen=True, slots=True)
class Due:
    """A record claimed for analysis."""

    call_id: str
    business_id: str
    agent_id: str | None
    record: dict[str, Any]
    attempts: int  # counting this one


PlanCache = dict[tuple[str, str], Any]  # (agent, business) -> its (analysis, kind) row, or None


async def pending_analysis(
    session: AsyncSession, row: CallRecord, now: float, plans: PlanCache | None = None
) -> None:
    """Queue the new record's analysis if the call was answered by a voice agent (echo and play agents
    hold no conversation) whose plan is on. `plans`: the agents read so far in this transaction."""
    record = row.record
    if not row.agent_id or not row.business_id or not record.get("answered_at"):
        return
    plans = {} if plans is None else plans
    key = (row.agent_id, row.business_id)
    if key not in plans:
        plans[key] = (
            await session.execute(
                select(Agent.analysis, Agent.kind).where(
                    Agent.id == row.agent_id, Agent.business_id == row.business_id
                )
            )
        ).first()
    found = plans[key]
    if found is None or found.kind != "voice" or found.analysis.get("enabled") is False:
        return
    plan = found.analysis
    row.analysis_state, row.analysis_due_at = "pending", now
    row.record = {**record, "analysis": {"status": "pending", "engine": plan.get("engine") or "embedded"}}


def kept_analysis(row: CallRecord, known: CallRecord) -> None:
    """A record written again (a journal replay) keeps the analysis already queued or made for it,
    and the cost the analysis added."""
    if known.analysis_state is None:
        return
    row.analysis_state, row.analysis_due_at = known.analysis_state, known.analysis_due_at
    row.analysis_attempts, row.analysis_success = known.analysis_attempts, known.analysis_success
    row.cost_total, row.billable_total = known.cost_total, known.billable_total
    kept: dict[str, Any] = {k: known.record[k] for k in ("analysis", "cost") if k in known.record}
    row.record = {**row.record, **kept}


async def claim_due(
    session: AsyncSession, now: float, limit: int, lease_s: float, skip: frozenset[str] = frozenset()
) -> list[Due]:
    """Up to `limit` pending analyses whose time has come, oldest first, none of the businesses in
    `skip` (at their bound on this node), each pushed `lease_s` ahead (only the runner whose update
    changed the row has it)."""
    query = (
        select(CallRecord.id, CallRecord.analysis_due_at)
        .where(CallRecord.analysis_state == "pending", CallRecord.analysis_due_at <= now)
        .order_by(CallRecord.analysis_due_at)
        .limit(limit)
    )
    if skip:
        query = query.where(CallRecord.business_id.not_in(skip))
    rows = list(await session.execute(query))
    claimed: list[Due] = []
    for call_id, due_at in rows:
        taken = await session.execute(
            update(CallRecord)
            .where(
                CallRecord.id == call_id,
                CallRecord.analysis_state == "pending",
                CallRecord.analysis_due_at == due_at,
            )
            .values(analysis_due_at=now + lease_s, analysis_attempts=CallRecord.analysis_attempts + 1)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            row = await session.get(CallRecord, call_id)
            if row is not None and row.business_id:
                claimed.append(
                    Due(row.id, row.business_id, row.agent_id, dict(row.record), row.analysis_attempts)
                )
    await session.commit()
    return claimed


async def postpone(session: AsyncSession, call_id: str, due_at: float) -> None:
    await session.execute(
        update(CallRecord)
        .where(CallRecord.id == call_id, CallRecord.analysis_state == "pending")
        .values(analysis_due_at=due_at)
    )
    await session.commit()


async def store_analysis(
    session: AsyncSession,
    call_id: str,
    analysis: dict[str, Any],
    cost_items: list[dict[str, Any]],
    billable: float,
    fields: dict[str, str],
    rollup: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Write a finished analysis (done or failed) into its record, once: the record as stored now,
    or None when it is no longer pending (another runner finished it, or the record is gone)."""
    async with session.begin():
        row = await session.get(CallRecord, call_id, with_for_update=True)
        if row is None or row.analysis_state != "pending":
            return None
        record = dict(row.record)
        cost = dict(record.get("cost") or {})
        if cost_items:
            amount = sum(float(item.get("amount") or 0.0) for item in cost_items)
            cost["items"] = [*(cost.get("items") or []), *cost_items]
            cost["total"] = round(float(cost.get("total") or 0.0) + amount, 6)
            cost["billable_total"] = round(float(cost.get("billable_total") or 0.0) + billable, 6)
            row.cost_total, row.billable_total = cost["total"], cost["billable_total"]
        record["cost"] = cost
        record["analysis"] = analysis
        row.record = record
        row.analysis_state = str(analysis["status"])
        success = analysis.get("success")
        row.analysis_success = bool(success["passed"]) if isinstance(success, dict) else None
        await session.execute(delete(CallField).where(CallField.call_id == call_id))
        for name, value in list(fields.items())[:100]:
            session.add(
                CallField(
                    call_id=call_id,
                    business_id=row.business_id or "",
                    name=name[:64],
                    value=value[:MAX_FIELD_VALUE],
                )
            )
        if rollup is not None:
            await _add_to_rollup(session, rollup)
    return record


async def _add_to_rollup(session: AsyncSession, delta: dict[str, Any]) -> None:
    key = (delta["business_id"], delta["day"], delta["agent_id"], delta["direction"])
    row = await session.get(CallRollup, key, with_for_update=True)
    if row is None:  # the call's own delta made it; a rollup rebuilt since may lack it
        return
    row.cost += delta["cost"]
    row.billable += delta["billable"]
    for name in ANALYSIS_SUMS:
        setattr(row, name, (getattr(row, name) or 0) + delta[name])
    row.intents = added(row.intents, delta["intents"])
    row.intents_answered = added(row.intents_answered, delta["intents_answered"])


async def pending_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).where(CallRecord.analysis_state == "pending")) or 0)
