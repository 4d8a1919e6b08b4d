"""Campaigns, dialled. Each node runs a `CampaignRunner`; it starts the scheduled campaigns whose
time came (any node's runner, once each), and each running campaign is held by one run at a time (a
lease on its row, renewed every tick), which dials its due contacts:

- only in the contact's local calling window (else the contact waits for it to open);
- at most `max_concurrent` of the campaign's calls at once and `calls_per_second` (a token bucket);
- each call to the campaign with the fewest calls under way, so that campaigns sharing a limit get
  even shares of it and none starves another;
  each call is admitted as any outbound call is (the business's and reseller's limits, the
  inbound reservation, the outbound CPS), and a refusal leaves the contact waiting, uncounted;
- the attempt is written (claimed) before the call is dialled, by compare-and-set: no other run
  can dial it, and a run that died leaves it `dialling`, which the next holder ends as
  `interrupted` (never dialled again unless the retries for failures allow it);
- when the call ends, its outcome decides the contact's next attempt (`campaigns.rules.Retries`);
  an end that cannot be stored (the database is away) is kept and stored on a later tick.

Time is `clock()` (unix seconds), injectable: the tests move it to open a window.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.campaigns.rules import outcome_class, retries_of, window_of
from voicegrid.capacity.errors import OverLimit
from voicegrid.core.ids import new_id
from voicegrid.store import campaigns as store
from voicegrid.store.models import Campaign, CampaignAttempt, CampaignContact
from voicegrid.telephony.book import Call
from voicegrid.telephony.service import CallRequest, CallService, DoNotCallListed
from voicegrid.tenancy import TenancyError

log = logging.getLogger(__name__)

Notify = Callable[[str, str, dict[str, Any]], Awaitable[None]]  # business id, event, data


async def _no_events(business_id: str, event: str, data: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class _End:
    """How a campaign's call ended: its own outcome, and how long it talked."""

    outcome: str | None
    talk_s: float = 0.0

    @classmethod
    def of(cls, call: Call) -> "_End":
        talked = call.ended_at - call.answered_at if call.answered_at and call.ended_at else None
        return cls(call.outcome, talked.total_seconds() if talked else 0.0)


@dataclass(slots=True)
class _Flight:
    campaign_id: str
    business_id: str
    contact_id: str
    number: str
    attempt: int


class CampaignRunner:
    def __init__(
        self,
        calls: CallService,
        sessions: async_sessionmaker[AsyncSession],
        *,
        node: str,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
        lease_s: float = 30.0,
        notify: Notify = _no_events,
    ) -> None:
        self.calls, self.sessions, self.clock = calls, sessions, clock
        self.tick_s, self.lease_s, self.notify = tick_s, lease_s, notify
        self.id = f"{node}/{new_id('run')}"  # this run: a restarted node is a new run
        self.flights: dict[str, _Flight] = {}  # attempts dialled by this run and not yet stored as ended
        self.ends: dict[str, _End] = {}  # attempt id -> how its call ended, to store
        self._buckets: dict[str, tuple[float, float]] = {}  # campaign -> (tokens, at)
        self._adopted: set[str] = set()  # campaigns whose earlier run's attempts were ended
        self._turn = 0
        self._dialling = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.store_failures = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="campaigns")

    def ended(self, call: Call) -> None:
        """A `CallBook.ended_listeners` entry: a campaign call's end is stored on the next tick."""
        if call.id in self.flights:
            self.ends[call.id] = _End.of(call)
            self._wake.set()

    def stop_dialling(self) -> None:
        """The node drains: dial nothing more; calls under way still end and are stored."""
        self._dialling = False

    async def aclose(self) -> None:
        """Store what ended, and give the campaigns back for another run to take at once."""
        self._dialling = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            async with asyncio.timeout(10):
                await self._store_ends()
                async with self.sessions() as session:
                    await store.give_back(session, self.id)
                    await session.commit()
        except Exception as exc:  # their leases lapse instead, and another run takes over
            log.warning("campaigns: could not give back on stop: %s", exc)

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(max(10.0, self.lease_s / 2)):
                    await self.tick()
            except Exception as exc:  # the database away: try again next tick, nothing is lost
                self.store_failures += 1
                log.warning("campaigns: tick failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await self._wake.wait()
            self._wake.clear()

    async def tick(self) -> None:
        now = self.clock()
        await self._store_ends()
        async with self.sessions() as session:
            started = await store.start_due(session, now)
            held = await store.run_campaigns(session, self.id, now, self.lease_s)
            await session.commit()
        for campaign_id, business_id in started:
            log.info("campaign %s started at its scheduled time", campaign_id)
            await self.notify(business_id, "campaign.started", {"campaign_id": campaign_id})
        if not held:
            return
        self._turn = (self._turn + 1) % len(held)
        held = held[self._turn :] + held[: self._turn]
        for campaign in held:
            if campaign.id not in self._adopted:
                await self._adopt(campaign)
        if self._dialling:
            await self._dial_round(held, now)
        for campaign in held:
            if not any(f.campaign_id == campaign.id for f in self.flights.values()):  # ends all stored
                await self._finish_if_done(campaign)

    async def _adopt(self, campaign: Campaign) -> None:
        """Attempts left `dialling` by a run that is gone end as `interrupted`."""
        async with self.sessions() as session:
            lost = await store.orphans(session, campaign.id, self.id)
        for attempt in lost:
            log.info(
                "campaign %s: attempt %s of a run that is gone ends interrupted", campaign.id, attempt.id
            )
            await self._end(campaign, attempt.id, None, "interrupted")
        self._adopted.add(campaign.id)

    async def _dial_round(self, held: list[Campaign], now: float) -> None:
        """One call at a time, each to the campaign with the fewest calls under way (ties in turn),
        until no campaign may or can dial more this tick: campaigns sharing a business's limit get
        even shares of it, whichever of their calls end first."""
        budget = {c.id: self._room(c, now) for c in held}
        due: dict[str, list[CampaignContact]] = {}
        for campaign in held:
            if budget[campaign.id] > 0:
                async with self.sessions() as session:
                    due[campaign.id] = await store.due(
                        session, campaign.id, now, min(200, 4 * budget[campaign.id])
                    )
        active = [c for c in held if due.get(c.id)]
        while active:
            campaign = min(active, key=lambda c: (self.under_way(c.id), held.index(c)))
            outcome = await self._dial_next(campaign, due[campaign.id], now)
            if outcome == "dialled":
                budget[campaign.id] -= 1
                self._spend(campaign.id)
            if outcome == "full":  # the limits are shared: a slot freed meanwhile goes to the fewest
                active = [c for c in active if c.business_id != campaign.business_id]
            elif outcome == "paused" or budget[campaign.id] <= 0 or not due[campaign.id]:
                active.remove(campaign)

    def under_way(self, campaign_id: str) -> int:
        """The campaign's calls under way: an ended call (its end not yet stored) holds no slot."""
        return sum(f.campaign_id == campaign_id and a not in self.ends for a, f in self.flights.items())

    def _room(self, campaign: Campaign, now: float) -> int:
        """How many calls the campaign may start now: its free concurrency and its CPS tokens."""
        flying = self.under_way(campaign.id)
        rate = max(0.01, campaign.calls_per_second)
        tokens, at = self._buckets.get(campaign.id, (max(1.0, rate), now))
        tokens = min(max(1.0, rate), tokens + (now - at) * rate)
        self._buckets[campaign.id] = (tokens, now)
        return max(0, min(campaign.max_concurrent - flying, math.floor(tokens)))

    def _spend(self, campaign_id: str) -> None:
        tokens, at = self._buckets[campaign_id]
        self._buckets[campaign_id] = (tokens - 1, at)

    async def _dial_next(self, campaign: Campaign, due: list[CampaignContact], now: float) -> str:
        """Dial the next due contact in its window: `dialled`, `skipped` (not now), `full` (the limits
        of its business or reseller) or `paused` (the campaign cannot dial)."""
        while due:
            contact = due.pop(0)
            opens = window_of(campaign.window).opens(
                datetime.fromtimestamp(now, UTC), ZoneInfo(contact.timezone)
            )
            async with self.sessions() as session:
                if opens.timestamp() > now:
                    await store.postpone(session, contact.id, opens.timestamp())
                    await session.commit()
                    continue
                attempt = await store.claim(session, contact, self.id)
                await session.commit()
            if attempt is None:
                continue  # another run took it
            return await self._place(campaign, contact, attempt)
        return "skipped"

    async def _place(self, campaign: Campaign, contact: CampaignContact, attempt: CampaignAttempt) -> str:
        self.flights[attempt.id] = _Flight(
            campaign.id, campaign.business_id, contact.id, contact.number, attempt.attempt
        )
        pool = list(campaign.caller_ids or [])
        request = CallRequest(
            campaign.agent_id,
            contact.number,
            pool[(self._turn + attempt.attempt + contact.row) % len(pool)] if pool else None,
            campaign.trunk_id,
            {"campaign_id": campaign.id, "contact_id": contact.id, "attempt": str(attempt.attempt)},
            campaign.ring_timeout_s,
            amd=campaign.amd,
            voicemail_message=campaign.voicemail_message,
            variables={"name": contact.name, **{str(k): str(v) for k, v in contact.variables.items()}},
            id=attempt.id,
        )
        try:
            await self.calls.place(campaign.business_id, request)
        except OverLimit:  # the limits are full: the contact waits, this attempt never happened
            del self.flights[attempt.id]
            async with self.sessions() as session:
                await store.unclaim(session, attempt)
                await session.commit()
            return "full"
        except DoNotCallListed:
            self.ends[attempt.id] = _End("do-not-call")
        except TenancyError as exc:  # the trunk, caller IDs or agent: no contact can be dialled
            del self.flights[attempt.id]
            async with self.sessions() as session:
                await store.unclaim(session, attempt)
                paused = await store.pause_for(session, campaign.id, f"cannot dial: {exc.message}")
                await session.commit()
            log.warning("campaign %s paused: cannot dial: %s", campaign.id, exc.message)
            if paused:
                await self.notify(
                    campaign.business_id,
                    "campaign.paused",
                    {"campaign_id": campaign.id, "reason": f"cannot dial: {exc.message}"},
                )
            return "paused"
        except Exception as exc:  # stored as failed: the retries for failures apply
            log.warning("campaign %s: %s not dialled: %s", campaign.id, contact.number, exc)
            self.ends[attempt.id] = _End("failed")
        return "dialled"

    async def _store_ends(self) -> None:
        for attempt_id, end in list(self.ends.items()):
            flight = self.flights.get(attempt_id)
            if flight is None:
                del self.ends[attempt_id]
                continue
            async with self.sessions() as session:
                campaign = await session.get(Campaign, flight.campaign_id)
            if campaign is not None:
                await self._end(campaign, attempt_id, end.outcome, outcome_class(end.outcome), end.talk_s)
            self.ends.pop(attempt_id, None)
            self.flights.pop(attempt_id, None)

    async def _end(
        self, campaign: Campaign, attempt_id: str, call_outcome: str | None, kind: str, talk_s: float = 0.0
    ) -> None:
        retries = retries_of(campaign.retries or {}, campaign.max_attempts)
        async with self.sessions() as session:
            ended = await store.end_attempt(
                session, attempt_id, kind, call_outcome, retries.next_delay, self.clock(), talk_s
            )
            await session.commit()
        if ended is None:
            return
        retry_at = datetime.fromtimestamp(ended.retry_at, UTC).isoformat() if ended.retry_at else None
        await self.notify(
            campaign.business_id,
            "campaign.call.ended",
            {
                "campaign_id": campaign.id, "contact_id": ended.contact_id, "number": ended.number,
                "call_id": ended.attempt_id, "attempt": ended.attempt, "outcome": ended.outcome,
                "call_outcome": ended.call_outcome,
                "retry_at": retry_at,
            },
        )  # fmt: skip

    async def _finish_if_done(self, campaign: Campaign) -> None:
        async with self.sessions() as session:
            finished = await store.finish_if_done(session, campaign.id, self.id)
            counts = await store.progress(session, campaign.id) if finished else {}
            await session.commit()
        if finished:
            log.info("campaign %s finished: %s", campaign.id, counts)
            await self.notify(
                campaign.business_id, "campaign.finished", {"campaign_id": campaign.id, "progress": counts}
            )
