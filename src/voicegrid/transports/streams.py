"""A call carried by a WebSocket media stream (Twilio, Telnyx, the browser), from admission to record.

The route authenticates the stream (a business key, an agent of that business); here the call is
admitted like any SIP call (`CallPlanner`: enabled flags, business and reseller leases, monthly
minutes, the agent's STT slot), kept in the node's `CallBook` (so it is listed live, found and hung
up through the API), held to the agent's maximum duration, and ended once, which gives back its
lease and leaves its call record.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.core.ids import new_id
from voicegrid.media.session import CallSession, Talker
from voicegrid.store.models import Agent, Business, Reseller
from voicegrid.telephony.agents import SilentAgent
from voicegrid.telephony.book import Call, CallBook
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.plan import CallPlanner, Refuse
from voicegrid.tenancy import InvalidInput, normalize_e164

log = logging.getLogger(__name__)

# WebSocket close codes (RFC 6455 §7.4.1) for a refused stream: nothing is spoken on it.
POLICY_VIOLATION = 1008  # unknown key or agent, a disabled business or reseller
TRY_AGAIN_LATER = 1013  # over a limit
INTERNAL_ERROR = 1011


def close_code(refusal: Refuse) -> int:
    if refusal.status == 503:
        return TRY_AGAIN_LATER
    if refusal.status >= 500:
        return INTERNAL_ERROR
    return POLICY_VIOLATION


def close_reason(refusal: Refuse) -> str:
    """At most 123 bytes (a close frame's reason)."""
    return (f"{refusal.reason}: {refusal.limit}" if refusal.limit else refusal.reason)[:120]


class StreamLeg(CallSession, Protocol):
    """A media stream's sans-I/O core, as the call sees it."""

    agent: Talker | None
    clock: MediaClock | None  # what paces it: a reply's first audio is hurried to its next sub-slot
    closed: bool
    close_reason: str | None

    def on_tick(self, scheduled: float, now: float) -> None: ...


def _number(value: str | None) -> str | None:
    try:
        return normalize_e164(value) if value else None
    except InvalidInput:
        return None


class StreamCalls:
    def __init__(
        self,
        book: CallBook,
        planner: CallPlanner,
        sessions: async_sessionmaker[AsyncSession],
        clock: MediaClock,
    ) -> None:
        self.book, self.planner, self.sessions, self.clock = book, planner, sessions, clock

    async def admit(
        self,
        agent: Agent,
        transport: str,
        carrier_call_id: str | None,
        from_number: str | None = None,
        to: str | None = None,
    ) -> Refuse | Call:
        """Admit one inbound stream call to `agent` (already known to be the key's business's)."""
        async with self.sessions() as session:
            business = await session.get(Business, agent.business_id)
            reseller = await session.get(Reseller, business.reseller_id) if business is not None else None
        call_id = new_id("call")
        call = Call(call_id, "inbound", carrier_call_id or call_id, transport=transport)
        plan = await self.planner.plan(business, reseller, agent, "inbound", call.id)
        if isinstance(plan, Refuse):
            log.info("%s stream to agent %s refused: %s", transport, agent.id, close_reason(plan))
            return plan
        call.apply(plan)
        call.from_number, call.to = _number(from_number), _number(to)
        self.book.keep(call)
        return call

    async def run(self, call: Call, stream: StreamLeg, receive: Callable[[], Awaitable[None]]) -> None:
        """The call, up: the agent talks on `stream` while `receive` feeds it, until either side
        hangs up, the socket goes, the API hangs up, or the agent's maximum duration passes."""
        stream.agent = call.agent or SilentAgent()
        call.leg = stream
        stream.clock = self.clock
        self.clock.register(stream)
        self.book.answered(call)
        try:
            stream.agent.on_start(stream)
            async with asyncio.timeout(call.max_duration_s):
                await receive()
        except TimeoutError:
            call.outcome = call.outcome or "max-duration"
            call.ended_by = call.ended_by or "local"
        finally:
            self.clock.unregister(stream)
            stream.hangup("remote")  # nothing when it hung up already
            reason = stream.close_reason or "remote"
            by = reason if reason in ("remote", "agent") else "local"
            self.book.finish(call, by, "completed")
