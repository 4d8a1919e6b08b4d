"""Campaigns in the database: which node runs each, which contacts are due, and each attempt from
its claim (before it is dialled) to its outcome. Every change of state is a compare-and-set on the
row's current state, so two nodes (or a node and its own earlier run) can never both take the same
contact or end the same attempt. The caller commits."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.core.clock import utcnow
from voicegrid.core.ids import new_id
from voicegrid.store.models import CallRecord, Campaign, CampaignAttempt, CampaignContact


@dataclass(frozen=True, slots=True)
class Ended:
    """What became of one attempt, and so of its contact."""

    attempt_id: str
    campaign_id: str
    contact_id: str
    number: str
    attempt: int
    outcome: str  # the campaign's kind of outcome (`campaigns.rules.OUTCOMES`, or interrupted)
    call_outcome: str | None
    retry_at: float | None  # when the contact is tried again; None: it is done


async def run_campaigns(session: AsyncSession, runner: str, now: float, lease_s: float) -> list[Campaign]:
    """The running campaigns this runner holds: its own (renewed) and any whose runner's lease
    lapsed or was given back (taken over)."""
    free = or_(Campaign.runner == runner, Campaign.runner.is_(None), Campaign.runner_until < now)
    taken = await session.scalars(
        update(Campaign)
        .where(Campaign.state == "running", free)
        .values(runner=runner, runner_until=now + lease_s)
        .returning(Campaign.id)
    )
    ids = list(taken.all())
    if not ids:
        return []
    found = await session.scalars(select(Campaign).where(Campaign.id.in_(ids)).order_by(Campaign.id))
    return list(found.all())


async def start_due(session: AsyncSession, now: float) -> list[tuple[str, str]]:
    """Start the scheduled campaigns whose time has come (any node's runner may; each is started
    once): their (id, business id)."""
    at = datetime.fromtimestamp(now, UTC)
    started = await session.execute(
        update(Campaign)
        .where(Campaign.state == "scheduled", Campaign.starts_at <= at)
        .values(state="running", starts_at=None, started_at=func.coalesce(Campaign.started_at, at))
        .returning(Campaign.id, Campaign.business_id)
        .execution_options(synchronize_session=False)
    )
    return [(campaign, business) for campaign, business in started.all()]


async def give_back(session: AsyncSession, runner: str) -> None:
    """Let another run take this runner's campaigns at once (the node stops)."""
    await session.execute(
        update(Campaign).where(Campaign.runner == runner).values(runner=None, runner_until=0)
    )


async def orphans(session: AsyncSession, campaign_id: str, runner: str) -> list[CampaignAttempt]:
    """Attempts of the campaign still dialling under another run: that run is gone (its lease
    lapsed), and with it the call."""
    found = await session.scalars(
        select(CampaignAttempt).where(
            CampaignAttempt.campaign_id == campaign_id,
            CampaignAttempt.state == "dialling",
            CampaignAttempt.runner != runner,
        )
    )
    return list(found.all())


async def due(session: AsyncSession, campaign_id: str, now: float, limit: int) -> list[CampaignContact]:
    found = await session.scalars(
        select(CampaignContact)
        .where(
            CampaignContact.campaign_id == campaign_id,
            CampaignContact.state == "waiting",
            CampaignContact.next_at <= now,
        )
        .order_by(CampaignContact.next_at, CampaignContact.row)
        .limit(limit)
    )
    return list(found.all())


async def postpone(session: AsyncSession, contact_id: str, until: float) -> None:
    """A contact outside its calling window waits for it to open, if its campaign still runs (a
    paused one may be given another window meanwhile: `reopen`)."""
    running = select(Campaign.id).where(Campaign.state == "running")
    await session.execute(
        update(CampaignContact)
        .where(
            CampaignContact.id == contact_id,
            CampaignContact.state == "waiting",
            CampaignContact.campaign_id.in_(running),
        )
        .values(next_at=until, window_at=until)  # window_at: next_at was moved by the window
    )


async def reopen(session: AsyncSession, campaign_id: str) -> None:
    """The campaign's window changed: its contacts waiting for the old one to open (they were due
    when it was shut) are due again, to be judged by the new one."""
    await session.execute(
        update(CampaignContact)
        .where(
            CampaignContact.campaign_id == campaign_id,
            CampaignContact.state == "waiting",
            CampaignContact.window_at > 0,
            CampaignContact.next_at == CampaignContact.window_at,
        )
        .values(next_at=0.0, window_at=0.0)
    )


async def close_spent(session: AsyncSession, campaign_id: str, max_attempts: int) -> int:
    """The campaign's attempts were lowered: contacts waiting with none left are done, with the
    outcome of their last attempt; how many."""
    spent = await session.scalars(
        update(CampaignContact)
        .where(
            CampaignContact.campaign_id == campaign_id,
            CampaignContact.state == "waiting",
            CampaignContact.attempts >= max_attempts,
        )
        .values(state="done")
        .returning(CampaignContact.id)
    )
    return len(spent.all())


async def claim(session: AsyncSession, contact: CampaignContact, runner: str) -> CampaignAttempt | None:
    """Take a waiting contact for its next attempt, written before it is dialled; None if another
    run took it first."""
    taken = await session.scalars(
        update(CampaignContact)
        .where(CampaignContact.id == contact.id, CampaignContact.state == "waiting")
        .values(state="calling", attempts=CampaignContact.attempts + 1, window_at=0.0)
        .returning(CampaignContact.attempts)
    )
    attempts = taken.first()
    if attempts is None:
        return None
    attempt = CampaignAttempt(
        id=new_id("call"),
        campaign_id=contact.campaign_id,
        contact_id=contact.id,
        attempt=attempts,
        runner=runner,
        state="dialling",
    )
    session.add(attempt)
    await session.flush()
    return attempt


async def unclaim(session: AsyncSession, attempt: CampaignAttempt) -> None:
    """An attempt that was never dialled (the limits were full): as if it had not been claimed."""
    gone = await session.scalars(
        delete(CampaignAttempt)
        .where(CampaignAttempt.id == attempt.id, CampaignAttempt.state == "dialling")
        .returning(CampaignAttempt.id)
    )
    if gone.first() is not None:
        await session.execute(
            update(CampaignContact)
            .where(CampaignContact.id == attempt.contact_id, CampaignContact.state == "calling")
            .values(state="waiting", attempts=CampaignContact.attempts - 1)
        )


# (the outcome, attempts made, how many ended this way) -> the wait before the next, or None: done
NextDelay = Callable[[str, int, int], float | None]


async def end_attempt(
    session: AsyncSession,
    attempt_id: str,
    kind: str,
    call_outcome: str | None,
    next_delay: NextDelay,
    now: float,
    talk_s: float = 0.0,
) -> Ended | None:
    """End a dialling attempt as `kind` (the campaign's kind of outcome; `call_outcome` is the
    call's own) and decide the contact's next step; None if the attempt had ended already."""
    ended = await session.scalars(
        update(CampaignAttempt)
        .where(CampaignAttempt.id == attempt_id, CampaignAttempt.state == "dialling")
        .values(state="ended", outcome=kind, call_outcome=call_outcome, talk_s=talk_s, ended_at=utcnow())
        .returning(CampaignAttempt.contact_id)
    )
    contact_id = ended.first()
    if contact_id is None:
        return None
    contact = await session.get(CampaignContact, contact_id, populate_existing=True)
    if contact is None:
        return None
    same = await session.scalar(
        select(func.count())
        .select_from(CampaignAttempt)
        .where(CampaignAttempt.contact_id == contact_id, CampaignAttempt.outcome == kind)
    )
    delay = next_delay(kind, contact.attempts, int(same or 0))
    retry_at = None if delay is None else now + delay
    contact.outcome = kind
    contact.state, contact.next_at = ("done", contact.next_at) if retry_at is None else ("waiting", retry_at)
    return Ended(
        attempt_id,
        contact.campaign_id,
        contact.id,
        contact.number,
        contact.attempts,
        kind,
        call_outcome,
        retry_at,
    )


@dataclass(frozen=True, slots=True)
class Results:
    """What a campaign's calls came to, from their stored records (a record is stored once its call
    has ended, so a call under way is not in them yet)."""

    calls: int
    answered: int
    talk_s: float
    cost: float
    billable: float
    analyzed: int
    succeeded: int


async def results(session: AsyncSession, business_id: str, campaign_id: str) -> Results:
    """The sums of the campaign's attempts and their call records (an attempt's id is its call's),
    the business's own only; from columns (a record's JSON would be parsed row by row)."""
    row = (
        await session.execute(
            select(
                func.count(CallRecord.id),
                func.count(CallRecord.id).filter(CampaignAttempt.talk_s > 0),
                func.coalesce(func.sum(CampaignAttempt.talk_s), 0.0),
                func.coalesce(func.sum(CallRecord.cost_total), 0.0),
                func.coalesce(func.sum(CallRecord.billable_total), 0.0),
                func.count(CallRecord.analysis_success),
                func.count(CallRecord.id).filter(CallRecord.analysis_success.is_(True)),
            )
            .select_from(CampaignAttempt)
            .join(CallRecord, CallRecord.id == CampaignAttempt.id)
            .where(CampaignAttempt.campaign_id == campaign_id, CallRecord.business_id == business_id)
        )
    ).one()
    calls, answered, talk, cost, billable, analyzed, succeeded = row
    return Results(
        int(calls), int(answered), float(talk), float(cost), float(billable), int(analyzed), int(succeeded)
    )


async def progress(session: AsyncSession, campaign_id: str) -> dict[str, int]:
    """Contacts waiting, calling and done, and the done ones by outcome (`done:<outcome>`)."""
    counts: dict[str, int] = {"waiting": 0, "calling": 0, "done": 0}
    rows = await session.execute(
        select(CampaignContact.state, CampaignContact.outcome, func.count())
        .where(CampaignContact.campaign_id == campaign_id)
        .group_by(CampaignContact.state, CampaignContact.outcome)
    )
    for state, outcome, n in rows.all():
        counts[state] = counts.get(state, 0) + n
        if state == "done":
            counts[f"done:{outcome}"] = counts.get(f"done:{outcome}", 0) + n
    return counts


async def finish_if_done(session: AsyncSession, campaign_id: str, runner: str) -> bool:
    """Mark the campaign finished if no contact waits or is being called; whether it did."""
    open_ = await session.scalar(
        select(CampaignContact.id)
        .where(CampaignContact.campaign_id == campaign_id, CampaignContact.state != "done")
        .limit(1)
    )
    if open_ is not None:
        return False
    done = await session.scalars(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state == "running", Campaign.runner == runner)
        .values(state="finished", finished_at=utcnow(), runner=None, runner_until=0)
        .returning(Campaign.id)
    )
    return done.first() is not None


async def cancel_waiting(session: AsyncSession, campaign_id: str) -> int:
    """A cancelled campaign's waiting contacts end as `cancelled`; calls under way finish."""
    gone = await session.scalars(
        update(CampaignContact)
        .where(CampaignContact.campaign_id == campaign_id, CampaignContact.state == "waiting")
        .values(state="done", outcome="cancelled")
        .returning(CampaignContact.id)
    )
    return len(gone.all())


async def move(
    session: AsyncSession, campaign_id: str, sources: tuple[str, ...], values: dict[str, Any]
) -> bool:
    """Change the campaign (its state, or its settings) only if it is still in one of `sources`:
    a request that read it before another moved it changes nothing. Whether it did."""
    moved = await session.scalars(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state.in_(sources))
        .values(**values)
        .returning(Campaign.id)
        .execution_options(synchronize_session=False)
    )
    return moved.first() is not None


async def contacts_after(
    session: AsyncSession, campaign_id: str, after: str, limit: int
) -> list[tuple[CampaignContact, list[CampaignAttempt]]]:
    """The campaign's contacts after the id `after` (a page of an export), each with its attempts."""
    contacts = (
        await session.scalars(
            select(CampaignContact)
            .where(CampaignContact.campaign_id == campaign_id, CampaignContact.id > after)
            .order_by(CampaignContact.id)
            .limit(limit)
        )
    ).all()
    tried = await attempts_of(session, [c.id for c in contacts])
    return [(c, tried[c.id]) for c in contacts]


async def attempts_of(session: AsyncSession, contact_ids: list[str]) -> dict[str, list[CampaignAttempt]]:
    """Each contact's attempts, first to last."""
    tried: dict[str, list[CampaignAttempt]] = {i: [] for i in contact_ids}
    if tried:
        found = await session.scalars(
            select(CampaignAttempt)
            .where(CampaignAttempt.contact_id.in_(contact_ids))
            .order_by(CampaignAttempt.attempt)
        )
        for attempt in found.all():
            tried[attempt.contact_id].append(attempt)
    return tried


async def pause_for(session: AsyncSession, campaign_id: str, reason: str) -> bool:
    """The platform pauses a running campaign that cannot dial at all (its trunk or agent is
    unusable), saying why; a person resumes it once that is mended. Whether it did."""
    paused = await session.scalars(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state == "running")
        .values(state="paused", state_reason=reason[:300], runner=None, runner_until=0)
        .returning(Campaign.id)
    )
    return paused.first() is not None
