"""Calls as the API sees them: placed through the business's own trunk and caller IDs, found by id.

Outbound rules: the agent must be the business's; the trunk is the business's own (the one named,
else its first enabled trunk with an outbound proxy); the caller ID must be one that trunk may
present; the call goes to that trunk's proxy, whatever the destination. Calls are kept in memory
(live state, and recent ended calls) until the call records of the analytics issue store them.
"""

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.campaigns.rules import fill
from voicegrid.capacity.errors import OverLimit
from voicegrid.capacity.leases import Lease, Refusal
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.core.clock import utcnow
from voicegrid.core.ids import new_id
from voicegrid.media.amd import Decision, Ready, Verdict
from voicegrid.media.ports import PortsExhausted
from voicegrid.media.screening import ScreenedTalker
from voicegrid.sip.uri import SipUri, parse_uri
from voicegrid.store.dnc import blocked
from voicegrid.store.models import Agent, Business, Reseller, Trunk
from voicegrid.telephony.admission import Admission
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.calls import CallControl, DialPlan
from voicegrid.telephony.plan import CallPlanner, Refuse, VoiceAgentBuilder
from voicegrid.telephony.targets import sip_target, transfer_target
from voicegrid.tenancy import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    SecretBox,
    SecretError,
    TenancyError,
    normalize_e164,
)

log = logging.getLogger(__name__)


class TelephonyUnavailable(Exception):
    """No SIP stack runs in this process (a 503 for the API)."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    agent_id: str
    to: str
    from_number: str | None = None
    trunk_id: str | None = None
    metadata: dict[str, str] | None = None
    ring_timeout_s: float = 45.0
    queue_deadline_s: float | None = None  # over a limit: wait this long in the queue, else 429
    amd: str | None = None  # answering-machine detection: off, detect, message; None: the agent's
    voicemail_message: str | None = None  # with amd=message: said after the beep (else the agent's)
    variables: Mapping[str, str] | None = None  # fill the agent's {placeholders} for this call
    id: str | None = None  # the call's id, when the caller chose it (a campaign's attempt)


class DoNotCallListed(Forbidden):
    """The number is on the business's or its reseller's do-not-call list."""

    def __init__(self) -> None:
        super().__init__("the number is on the business's or its reseller's do-not-call list")


def for_contact(agent: Agent, variables: Mapping[str, str]) -> Agent:
    """A copy of `agent` (not in any session) with its greeting, prompt and voicemail message
    filled with one contact's variables."""
    columns = {c.key: getattr(agent, c.key) for c in Agent.__table__.columns}
    copy = Agent(**columns)
    copy.greeting, copy.system_prompt = fill(agent.greeting, variables), fill(agent.system_prompt, variables)
    copy.voicemail_message = fill(agent.voicemail_message or "", variables)
    return copy


def record_amd(call: Call, decision: Decision, ready: Ready | None) -> None:
    """Answering-machine detection's verdict, on the call (its view and its record)."""
    call.amd = {
        "verdict": decision.verdict.value, "reason": decision.reason, "after_ms": decision.after_ms,
        "machine_ready_ms": ready.after_ms if ready else None,
        "machine_ready": ready.reason if ready else None,
    }  # fmt: skip
    if decision.verdict is Verdict.MACHINE:
        call.outcome = "voicemail"


@dataclass(frozen=True, slots=True)
class _Outbound:
    """One outbound call as requested and routed, before it is dialled (now, or from the queue)."""

    business: Business
    reseller: Reseller | None
    agent: Agent
    plan: DialPlan
    request: CallRequest

    def describe(self, call: Call) -> None:
        call.business_id, call.agent_id, call.trunk_id = self.business.id, self.agent.id, self.plan.trunk_id
        call.suppress_silence = self.plan.suppress_silence
        call.from_number = self.plan.from_uri.split(":", 1)[1].split("@", 1)[0]
        call.to, call.metadata = self.plan.to_uri, dict(self.request.metadata or {})


class CallService:
    def __init__(
        self,
        control: CallControl | None,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        *,
        admission: Admission | None = None,
        voice_agent: VoiceAgentBuilder | None = None,
    ) -> None:
        self.admission = admission or Admission(MemoryBackend())  # shared with inbound routing
        self.planner = CallPlanner(self.admission, voice_agent)
        self.queued: dict[str, Call] = {}  # outbound calls waiting for capacity, by id
        self._waiting: dict[str, asyncio.Task[None]] = {}  # the task that dials each, once admitted
        self.control = control
        self.sessions = sessions
        self.secrets = secrets
        if control is not None:
            control.transfers.route = self.transfer_route

    def _require(self) -> CallControl:
        if self.control is None:
            raise TelephonyUnavailable("telephony is not running in this process")
        return self.control

    def find(self, business_id: str, call_id: str) -> Call | None:
        """The live (or queued) call if it belongs to `business_id`; None otherwise."""
        control = self._require()
        call = control.book.by_id.get(call_id) or self.queued.get(call_id)
        return call if call is not None and call.business_id == business_id else None

    def get(self, business_id: str, call_id: str) -> Call:
        """The call if it belongs to `business_id`; NotFound otherwise (never whose it is)."""
        call = self.find(business_id, call_id)
        if call is None:
            raise NotFound()
        return call

    def recent(self, business_id: str, sip_call_id: str | None = None, limit: int = 50) -> list[Call]:
        """The business's live and recently ended calls, newest first."""
        return self._newest(business_id, lambda c: sip_call_id is None or c.call_id == sip_call_id)[:limit]

    def live(self, business_id: str) -> list[Call]:
        """The business's calls not yet ended (queued, ringing or up) on this node, newest first."""
        return self._newest(business_id, lambda c: c.state is not CallState.ENDED)

    def _newest(self, business_id: str, keep: Callable[[Call], bool]) -> list[Call]:
        control = self._require()
        calls = [
            c
            for c in [*control.book.by_id.values(), *self.queued.values()]
            if c.business_id == business_id and keep(c)
        ]
        calls.sort(key=lambda c: c.created_at, reverse=True)
        return calls

    async def plan(
        self, business_id: str, to: str, from_number: str | None = None, trunk_id: str | None = None
    ) -> DialPlan:
        """How this business reaches `to`: its own trunk, a caller ID that trunk lists, its credentials."""
        async with self.sessions() as session:
            trunk = await self._trunk(session, business_id, trunk_id)
        to_uri = self._destination(to, trunk)
        caller_ids = list(trunk.caller_ids or [])
        if from_number is not None:
            number = normalize_e164(from_number, "from")
            if number not in caller_ids:
                raise Forbidden(f"caller ID {number} is not one the trunk may present")
        elif caller_ids:
            number = caller_ids[0]
        else:
            raise InvalidInput("from", "the trunk has no caller IDs; add one to it first")
        credentials = None
        if trunk.outbound_username and trunk.outbound_password_enc:
            try:
                password = self.secrets.decrypt(trunk.outbound_password_enc, f"trunk:{trunk.id}:outbound")
            except SecretError as exc:
                raise Conflict("the trunk's password cannot be decrypted with this server's key") from exc
            credentials = (trunk.outbound_username, password)
        host = trunk.outbound_host or ""
        dest = (trunk.transport, host.strip("[]"), trunk.outbound_port)
        return DialPlan(
            to_uri, dest, f"sip:{number}@{host}", credentials, trunk.id, trunk.rtp_suppress_silence
        )

    async def transfer_route(self, call: Call, target: str) -> DialPlan | None:
        """Where a bridged transfer goes: through the call's business's own trunk, like any outbound call."""
        if call.business_id is None:
            return None
        try:
            return await self.plan(call.business_id, target)
        except TenancyError as exc:
            log.info("transfer of %s to %s cannot be bridged: %s", call.id, target, exc.message)
            return None

    async def place(self, business_id: str, request: CallRequest) -> Call:
        """Dial now, or (with `queue_deadline_s`) accept the call as queued and dial when admitted."""
        self._require()
        async with self.sessions() as session:
            agent = await session.scalar(
                select(Agent).where(Agent.id == request.agent_id, Agent.business_id == business_id)
            )
        if agent is None:
            raise InvalidInput("agent_id", "no such agent in this business")
        if request.variables:
            agent = for_contact(agent, request.variables)
        amd = request.amd or agent.amd or "off"
        message = (
            fill(request.voicemail_message or agent.voicemail_message or "", request.variables or {}) or None
        )
        if amd == "message" and not message:
            raise InvalidInput("voicemail_message", "amd `message` needs the `voicemail_message` to leave")
        request = replace(request, amd=amd, voicemail_message=message)
        plan = await self.plan(business_id, request.to, request.from_number, request.trunk_id)
        async with self.sessions() as session:
            business = await session.get(Business, business_id)
            reseller = await session.get(Reseller, business.reseller_id) if business is not None else None
        if business is None:
            raise InvalidInput("business", "no such business")
        out = _Outbound(business, reseller, agent, plan, request)
        admitted = await self.admission.admit(business, reseller, "outbound")
        if isinstance(admitted, Refusal):
            if request.queue_deadline_s is None or not admitted.queueable:
                raise OverLimit(admitted.limit, admitted.retry_after_s)
            return self._enqueue(out, admitted)
        return await self._dial(admitted, out, id=request.id)

    async def _dial(self, lease: Lease, out: "_Outbound", id: str | None = None) -> Call:
        control = self._require()
        if await self._do_not_call(out):  # now, as it is dialled: a number listed while queued counts
            await self.admission.release(lease)
            raise DoNotCallListed()
        call_id = id or new_id("call")  # the agent is built knowing it (its tool webhooks carry it)
        plan = await self.planner.build(lease, out.agent, "outbound", call_id)
        if isinstance(plan, Refuse):  # the lease is given back already
            if plan.limit is not None:
                raise OverLimit(plan.limit, plan.retry_after_s or 5)
            raise Conflict(f"the agent cannot take a call now: {plan.reason}")
        screening = None
        if out.request.amd != "off" and plan.talker is not None:
            message = out.request.voicemail_message if out.request.amd == "message" else None
            screening = ScreenedTalker(plan.talker, message=message)
            plan = replace(plan, talker=screening)
        try:
            call = control.dial(
                out.plan.to_uri,
                out.plan.dest,
                from_uri=out.plan.from_uri,
                credentials=out.plan.credentials,
                agent=plan.talker,
                ring_timeout_s=out.request.ring_timeout_s,
                id=call_id,
            )
        except PortsExhausted as exc:
            await self.admission.release(lease)
            raise Conflict("no media port is free; try again shortly") from exc
        except BaseException:
            await self.admission.release(lease)
            raise
        if screening is not None:  # no verdict can come before the call is answered
            screening.on_result = functools.partial(record_amd, call)
        call.apply(plan)
        out.describe(call)
        return call

    def _enqueue(self, out: "_Outbound", refusal: Refusal) -> Call:
        queued = Call(out.request.id or new_id("call"), "outbound", "", state=CallState.QUEUED)
        out.describe(queued)
        self.queued[queued.id] = queued
        while len(self.queued) > 1000:  # ended placeholders are kept for a while, for GET
            oldest = next(iter(self.queued))
            if self.queued[oldest].state is not CallState.ENDED:
                break
            del self.queued[oldest]
        task = asyncio.get_running_loop().create_task(self._dial_when_admitted(queued, out, refusal))
        self._waiting[queued.id] = task
        task.add_done_callback(lambda _: self._waiting.pop(queued.id, None))
        return queued

    async def _dial_when_admitted(self, queued: Call, out: "_Outbound", refusal: Refusal) -> None:
        deadline_s = out.request.queue_deadline_s or 0.0
        try:
            lease = await self.admission.wait_in_queue(out.business, out.reseller, refusal, deadline_s)
            await self._dial(lease, out, id=queued.id)
        except asyncio.CancelledError:  # hung up while queued, or the node drains: never dialled
            self._end_queued(queued, "cancelled")
            raise
        except Exception as exc:  # the placeholder says what became of the call
            log.info("queued call %s not placed: %s", queued.id, exc)
            outcome = "queue-timeout" if isinstance(exc, OverLimit) else "failed"
            self._end_queued(queued, "do-not-call" if isinstance(exc, DoNotCallListed) else outcome)
            return
        del self.queued[queued.id]  # the live call carries the same id from here on

    def _end_queued(self, queued: Call, outcome: str) -> None:
        """A queued call that was never dialled ends here, and leaves its record as every call does."""
        if queued.state is CallState.ENDED:
            return
        queued.outcome = queued.outcome or outcome
        queued.state, queued.ended_at, queued.ended_by = CallState.ENDED, utcnow(), "local"
        queued.ended.set()
        if self.control is not None:
            self.control.book.announce_ended(queued)

    async def drain_queue(self) -> int:
        """End every queued call as `drained` and dial none of them (the node is stopping); their
        records are made. Returns how many there were."""
        waiting = list(self._waiting.items())
        for call_id, task in waiting:
            call = self.queued.get(call_id)
            if call is not None:
                self._end_queued(call, "drained")
            task.cancel()
        await asyncio.gather(*(task for _, task in waiting), return_exceptions=True)
        return len(waiting)

    async def _trunk(self, session: AsyncSession, business_id: str, trunk_id: str | None) -> Trunk:
        stmt = select(Trunk).where(
            Trunk.business_id == business_id, Trunk.enabled, Trunk.outbound_host.is_not(None)
        )
        if trunk_id is not None:
            stmt = stmt.where(Trunk.id == trunk_id)
        trunk = await session.scalar(stmt.order_by(Trunk.id).limit(1))
        if trunk is None:
            field = "trunk_id" if trunk_id else "trunk"
            raise InvalidInput(field, "no enabled trunk of this business with an outbound proxy")
        if trunk.transport not in ("udp", "tcp"):
            raise InvalidInput("trunk_id", f"{trunk.transport} trunks are not supported yet")
        return trunk

    async def _do_not_call(self, out: "_Outbound") -> bool:
        uri = parse_uri(out.plan.to_uri)
        user = uri.user.split(";", 1)[0] if isinstance(uri, SipUri) and uri.user else ""
        try:
            number = normalize_e164(user)
        except InvalidInput:
            return False  # a SIP address with no number in it: no list names it
        owners = [out.business.id, *([out.reseller.id] if out.reseller is not None else [])]
        async with self.sessions() as session:
            return await blocked(session, owners, number)

    @staticmethod
    def _destination(to: str, trunk: Trunk) -> str:
        """A number becomes sip:<number>@<trunk proxy>; a SIP URI is kept (it still goes via the trunk)."""
        if to.startswith(("sip:", "sips:")):
            return sip_target(to)
        number = normalize_e164(to, "to")
        port = f":{trunk.outbound_port}" if trunk.outbound_port != 5060 else ""
        return f"sip:{number}@{trunk.outbound_host}{port}"

    def hangup(self, call: Call) -> None:
        """End the call: BYE or CANCEL it, or, while it is queued, take it out of the queue undialled."""
        waiting = self._waiting.get(call.id) if call.state is CallState.QUEUED else None
        if waiting is not None:
            self._end_queued(call, "cancelled")
            waiting.cancel()
            return
        if call.leg is not None:  # SIP: BYE or CANCEL; a media stream: its socket closes
            call.leg.hangup("local")

    def transfer(self, call: Call, to: str) -> None:
        if call.state is not CallState.UP:
            raise Conflict(f"the call is {call.state.value}; only an answered call can be transferred")
        if not self._require().transfer(call, transfer_target(to, call.dest)):
            raise Conflict("the call cannot be transferred now")
