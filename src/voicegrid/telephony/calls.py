"""Call control over SIP: inbound INVITEs to a decision hook, answers with SDP, outbound dialling, BYE.

The decision hook (routing, trunk checks, admission) is the application's; this layer does the SIP
choreography around it: 100 (by the user agent), 180, 200 with an SDP answer, 488 when no codec is
shared, the ACK that puts a call up, BYE from either side, and CANCEL while ringing.
"""

import asyncio
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from voicegrid.core.ids import new_id
from voicegrid.media.codecs import make_codec
from voicegrid.media.ports import PortAllocator, PortsExhausted
from voicegrid.media.recording import Recorder
from voicegrid.media.session import Agent
from voicegrid.sip.build import new_call_id, new_tag, response_to
from voicegrid.sip.dialog import Dialog
from voicegrid.sip.errors import ParseError, SdpError
from voicegrid.sip.headers import Headers
from voicegrid.sip.message import Request, Response
from voicegrid.sip.registration import Registration
from voicegrid.sip.sdp import Negotiated, SessionDescription, answer, offer, parse_sdp
from voicegrid.sip.transaction import ClientTransaction
from voicegrid.sip.uri import SipUri
from voicegrid.sip.useragent import Addr, Event, Incoming, Outcome, UserAgent
from voicegrid.telephony.book import Call, CallBook, CallState
from voicegrid.telephony.bridge import BridgeAgent
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.plan import CallPlan, Refuse
from voicegrid.telephony.ratelimit import SourceRateLimiter
from voicegrid.telephony.recording_file import RecordingFile
from voicegrid.telephony.rtp_session import RtpSession, SilentAgent
from voicegrid.telephony.sip_transport import DEFAULT_TCP_LIMITS, SipEndpoint, TcpLimits
from voicegrid.telephony.targets import transfer_target
from voicegrid.tenancy.errors import InvalidInput

log = logging.getLogger(__name__)


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with an inbound INVITE: a failure status, or ring for `ring_ms` then answer with
    the call's plan."""

    status: int = 200
    reason: str | None = None
    ring_ms: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    plan: CallPlan = field(default_factory=CallPlan)

    @classmethod
    def refuse(cls, refusal: Refuse) -> "Decision":
        return cls(refusal.status, refusal.reason, headers=refusal.headers())


Decide = Callable[[Request, Addr, str], Awaitable[Decision]]  # (INVITE, source, our call id)


@dataclass(frozen=True, slots=True)
class DialPlan:
    """How to reach a transfer target ourselves: Request-URI, next hop, From, and trunk credentials."""

    to_uri: str
    dest: Addr
    from_uri: str
    credentials: tuple[str, str] | None = None
    trunk_id: str | None = None


TransferRoute = Callable[["Call", str], Awaitable[DialPlan | None]]


class CallControl:
    def __init__(
        self,
        ua: UserAgent,
        decide: Decide,
        *,
        ports: PortAllocator | None = None,
        clock: MediaClock | None = None,
        no_rtp_timeout_s: float = 30.0,
        limiter: SourceRateLimiter | None = None,
        recordings_dir: Path | None = None,
        transfer_route: TransferRoute | None = None,
        tcp: TcpLimits = DEFAULT_TCP_LIMITS,
        book: CallBook | None = None,
    ) -> None:
        self.book = book or CallBook()  # every call of the node, SIP or not
        self.tcp = tcp
        self.recordings_dir = recordings_dir
        self.transfer_route = transfer_route  # for bridging when the peer refuses REFER
        self.ua = ua
        self.limiter = limiter or SourceRateLimiter()
        self.draining = False
        self.decide = decide
        self.endpoint: SipEndpoint | None = None
        self.calls: dict[str, Call] = {}  # by Call-ID
        self.ports = ports or PortAllocator()
        self.clock = clock or MediaClock()
        self.no_rtp_timeout_s = no_rtp_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._session = secrets.randbelow(2**31)
        self._registrations: dict[str, tuple[Registration, Addr, tuple[str, str] | None]] = {}
        self._register_timers: dict[str, asyncio.TimerHandle] = {}

    async def start(self, host: str, port: int) -> None:
        self.clock.start()
        self.endpoint = SipEndpoint(self.ua, self.on_event, self.tcp)
        await self.endpoint.start(host, port)
        self.ua.local = (self.ua.local[0], host, self.endpoint.port)

    async def stop(self) -> None:
        self.unregister_all()
        for call in list(self.calls.values()):
            self._close_media(call)
        for task in list(self._tasks):
            task.cancel()
        if self.endpoint is not None:
            await self.endpoint.stop()
        await self.clock.stop()

    @property
    def by_id(self) -> dict[str, Call]:
        return self.book.by_id

    @property
    def ended_listeners(self) -> list[Callable[[Call], None]]:
        return self.book.ended_listeners

    @property
    def answered_listeners(self) -> list[Callable[[Call], None]]:
        return self.book.answered_listeners

    @property
    def contact(self) -> str:
        _, host, port = self.ua.local
        return f"<sip:voicegrid@{host}:{port}>"

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _flush(self) -> None:
        if self.endpoint is not None:
            self.endpoint.flush()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # ---- events from the user agent ------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, Incoming):
            method = event.request.method
            if method == "INVITE" and event.dialog is None:
                live = self.calls.get(event.request.call_id)
                if live is not None and live.state is not CallState.ENDED:
                    # a new INVITE with a live call's Call-ID (merged, looped, or someone else's):
                    # answered on its own, never touching the call that owns the Call-ID (§8.2.2.2)
                    self.ua.respond(event, response_to(event.request, 482, "Call-ID in use"), self._now())
                    return
                refusal = self._refusal(event)
                if refusal is not None:
                    self.ua.respond(event, refusal, self._now())
                    return
                call = Call(new_id("call"), "inbound", event.request.call_id, incoming=event)
                self._keep(call)
                self._spawn(self._inbound(call))
            elif method == "ACK" and event.dialog is not None:
                acked = self.calls.get(event.request.call_id)
                if acked is not None and acked.dialog is event.dialog and acked.state is CallState.RINGING:
                    acked.state = CallState.UP
                    self._answered(acked)
            elif event.transaction is not None and method != "INVITE":
                status = 202 if method == "REFER" else 200  # REFER is accepted, then reported (RFC 3515)
                self.ua.respond(event, response_to(event.request, status), self._now())
                if method == "NOTIFY":
                    self._transfer_progress(event.request)
            elif event.transaction is not None:  # a re-INVITE: answered with our current SDP
                self._reinvite(event)
            return
        self._on_outcome(event)

    def _on_outcome(self, event: Outcome) -> None:
        if event.kind in ("bye", "cancelled", "ack-timeout"):
            call_id = event.dialog.call_id if event.dialog is not None else None
            if call_id is None and event.transaction is not None:
                call_id = event.transaction.request.call_id
            call = self.calls.get(call_id or "")
            if call is not None and self._owns(call, event):
                if event.kind == "ack-timeout" and call.dialog is not None:
                    self._send_bye(call)
                self._end(
                    call,
                    {"bye": "remote", "cancelled": "remote", "ack-timeout": "local"}[event.kind],
                    {"bye": None, "cancelled": "cancelled", "ack-timeout": "failed"}[event.kind],
                )
            return
        if event.transaction is not None and event.transaction.request.method == "REGISTER":
            self._on_register_outcome(event)
            return
        if event.transaction is not None and event.transaction.request.method == "REFER":
            self._on_refer_outcome(event)
            return
        if event.transaction is None or event.transaction.request.method != "INVITE":
            if event.kind == "response" and event.response is not None and event.transaction is None:
                call = self.calls.get(event.response.call_id)  # a 2xx retransmitted: ACK it again
                if call is not None and call.dialog is not None and call.dest is not None:
                    self.ua.ack_2xx(call.dialog, event.response, call.dest, self.contact)
            return
        call = self.calls.get(event.transaction.request.call_id)
        if call is None or call.direction != "outbound":
            return
        if event.kind == "retried" and isinstance(event.transaction, ClientTransaction):
            call.invite_tx = event.transaction  # the INVITE again, with credentials
        elif event.kind == "timeout":
            self._end(call, "network", "no-answer")
        elif event.kind == "response" and event.response is not None:
            self._outbound_response(call, event.response, event.dialog)

    @staticmethod
    def _owns(call: Call, event: Outcome) -> bool:
        """Whether an end event is of this call's own dialog or INVITE, not merely of its Call-ID."""
        if call.dialog is not None:
            return event.dialog is call.dialog
        if event.kind == "cancelled" and call.incoming is not None:
            return event.transaction is call.incoming.transaction
        return call.direction == "outbound"  # no dialog yet: its own INVITE is the only one it sent

    def _refusal(self, event: Incoming) -> Response | None:
        """503 with Retry-After while draining, or for a source over its INVITE rate."""
        if self.draining:
            response = response_to(event.request, 503, "Shutting down")
            response.headers.add("Retry-After", "30")
            return response
        if not self.limiter.allow(event.source[1], self._now()):
            response = response_to(event.request, 503, "Too many calls from this source")
            response.headers.add("Retry-After", "1")
            return response
        return None

    @property
    def active_calls(self) -> list[Call]:
        """The node's calls up or ringing, SIP or media stream (the drain waits for all of them)."""
        return self.book.active

    async def drain(self, limit_s: float) -> int:
        """Take no new calls (INVITE and OPTIONS say 503), let calls end for up to `limit_s`, then hang up
        the rest. Returns how many were hung up at the deadline."""
        self.draining = True
        self.ua.options_status = 503
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while self.active_calls and loop.time() < deadline:
            pending = [asyncio.ensure_future(c.ended.wait()) for c in self.active_calls]
            try:
                await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            finally:
                for task in pending:
                    task.cancel()
        remaining = self.active_calls
        for call in remaining:
            call.ended_by = call.ended_by or "local"
            call.outcome = call.outcome or "drained"
            self.hangup(call)
        return len(remaining)

    def _negotiate(self, body: bytes, rtp_port: int, version: int) -> tuple[SessionDescription, Negotiated]:
        """Our answer to the far end's SDP (offer or answer) on `rtp_port`, and what it settles.

        Raises SdpError (status 488 when nothing is shared) or ParseError."""
        return answer(
            parse_sdp(body),
            local_address=self.ua.local[1],
            local_port=rtp_port,
            session_id=self._session,
            version=version,
        )

    # ---- inbound -------------------------------------------------------------------------------
    async def _inbound(self, call: Call) -> None:
        """Decide, then answer. Whatever fails on the way, the INVITE gets a final response (400, 488,
        500 or 503 as fits; a BYE if it was already answered) and the call ends, which gives back its
        lease, its RTP port and its state."""
        incoming = call.incoming
        if incoming is None:
            return
        request = incoming.request
        try:
            decision = await self.decide(request, incoming.source, call.id)
        except Exception:
            log.exception("call decision failed")
            decision = Decision(500)
        call.on_end = decision.plan.release
        if call.state is CallState.ENDED:
            release, call.on_end = call.on_end, None
            if release is not None:
                release()
            return  # cancelled while deciding
        try:
            await self._answer(call, incoming, decision)
        except Exception as exc:
            self._fail_inbound(call, incoming, exc)

    def _fail_inbound(self, call: Call, incoming: Incoming, exc: Exception) -> None:
        if isinstance(exc, SdpError):
            status, reason = exc.status, exc.reason[:100]
        elif isinstance(exc, ParseError):
            status, reason = 400, exc.reason[:100]
        elif isinstance(exc, PortsExhausted):
            status, reason = 503, "No media ports free"
        elif isinstance(exc, OSError):  # no descriptor left, most often
            status, reason = 503, "No media resources"
        else:
            log.error("inbound call %s failed", call.call_id, exc_info=exc)
            status, reason = 500, "Server Internal Error"
        if call.state is CallState.ENDED:
            return
        tx = incoming.transaction
        if call.dialog is not None and call.dest is not None:  # answered already: hang up
            call.outcome = call.outcome or "failed"
            self.hangup(call)
            return
        if (
            tx is not None
            and not tx.terminated
            and (tx.last_response is None or tx.last_response.status < 200)
        ):
            response = response_to(incoming.request, status, reason)
            if status == 503:
                response.headers.add("Retry-After", "5")
            try:
                self.ua.respond(incoming, response, self._now())
            except Exception:  # the response itself could not be made: nothing more to say
                log.exception("no final response for %s", call.call_id)
        self._end(call, "local", "rejected" if status in (503, 488) else "failed")
        self._flush()

    async def _answer(self, call: Call, incoming: Incoming, decision: Decision) -> None:
        request = incoming.request
        if decision.status >= 300:
            response = response_to(request, decision.status, decision.reason)
            for name, value in decision.headers:
                response.headers.add(name, value)
            self.ua.respond(incoming, response, self._now())
            self._end(call, "local", "rejected")
            self._flush()
            return
        call.rtp_port = self._free_rtp_port()
        body, media = self._negotiate(request.body, call.rtp_port, 1)
        call.media = media
        call.apply(decision.plan)
        call.to = request.uri
        call.from_number = request.from_.uri.user if isinstance(request.from_.uri, SipUri) else None
        tag = new_tag()
        if decision.ring_ms:
            self.ua.respond(
                incoming, response_to(request, 180, to_tag=tag), self._now(), contact=self.contact
            )
            self._flush()
            await asyncio.sleep(decision.ring_ms / 1000)
            if call.ended.is_set():
                return
        ok = response_to(request, 200, to_tag=tag)
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = bytes(body)
        self.ua.respond(incoming, ok, self._now(), contact=self.contact)
        call.dialog = self.ua.dialogs.get((request.call_id, tag, request.from_.tag or ""))
        call.dest = incoming.source
        self._flush()
        await self._start_media(call)

    def _reinvite(self, event: Incoming) -> None:
        call = self.calls.get(event.request.call_id)
        ok = response_to(event.request, 200)
        if call is not None and event.request.body:
            try:
                body, call.media = self._negotiate(event.request.body, call.rtp_port or 0, 2)
            except SdpError as exc:
                self.ua.respond(event, response_to(event.request, exc.status), self._now())
                return
            ok.headers.add("Content-Type", "application/sdp")
            ok.body = bytes(body)
        self.ua.respond(event, ok, self._now(), contact=self.contact)

    # ---- outbound ------------------------------------------------------------------------------
    def dial(
        self,
        to_uri: str,
        dest: Addr,
        *,
        from_uri: str,
        credentials: tuple[str, str] | None = None,
        agent: Agent | None = None,
        ring_timeout_s: float = 45.0,
        id: str | None = None,
    ) -> Call:
        """Place an outbound call; raises PortsExhausted when no media port is free.

        `id` keeps the id a queued call was given when it was accepted.

        Unanswered after `ring_timeout_s`, it is cancelled with outcome `no-answer`.
        """
        rtp_port = self._free_rtp_port()
        headers = Headers()
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{from_uri}>;tag={new_tag()}")
        headers.add("To", f"<{to_uri}>")
        call_id = new_call_id(self.ua.local[1])
        headers.add("Call-ID", call_id)
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.contact)
        headers.add("Content-Type", "application/sdp")
        body = offer(local_address=self.ua.local[1], local_port=rtp_port, session_id=self._session, version=1)
        call = Call(id or new_id("call"), "outbound", call_id, dest=dest, rtp_port=rtp_port, agent=agent)
        call.to, call.from_number = to_uri, from_uri.split(":", 1)[-1].split("@", 1)[0]
        self._keep(call)
        call.invite_tx = self.ua.send(
            Request(headers=headers, body=bytes(body), method="INVITE", uri=to_uri),
            dest,
            self._now(),
            credentials=credentials,
        )
        self._flush()
        self._spawn(self._ring_timeout(call, ring_timeout_s))
        return call

    async def _ring_timeout(self, call: Call, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await call.answered.wait()
        except TimeoutError:
            if call.state is CallState.RINGING:
                call.outcome = "no-answer"
                self.hangup(call)

    def _outbound_response(self, call: Call, response: Response, dialog: Dialog | None) -> None:
        if response.status < 200:
            if response.status == 183 and response.body and call.media_session is None:
                self._early_media(call, response)
            return
        if response.status < 300 and dialog is not None and call.dest is not None:
            call.dialog = dialog
            self.ua.ack_2xx(dialog, response, call.dest, self.contact)
            try:
                if response.body:
                    _, call.media = self._negotiate(response.body, call.rtp_port or 0, 1)
            except (SdpError, ParseError):
                log.info("answer SDP unusable on %s", call.call_id)
            if call.state is CallState.RINGING:
                call.state = CallState.UP
                call.outcome = "answered"
                self._answered(call)
                if call.media_session is not None and call.max_duration_s is not None:
                    self._spawn(self._limit_duration(call, call.max_duration_s))  # media came early
                self._spawn(self._start_media(call))
            self._flush()
            return
        outcome = {
            486: "busy",
            600: "busy",
            480: "no-answer",
            408: "no-answer",
            487: "cancelled",
            603: "declined",
        }
        self._end(call, "remote", outcome.get(response.status, "failed"))

    # ---- transfer ------------------------------------------------------------------------------
    def transfer(self, call: Call, to_uri: str) -> bool:
        """Blind transfer (RFC 3515): ask the peer to call `to_uri`; we leave once it reports success."""
        if call.state is not CallState.UP or call.dialog is None or call.dest is None:
            return False
        extra = Headers()
        extra.add("Refer-To", f"<{to_uri}>")
        extra.add("Referred-By", self.contact)
        refer = call.dialog.new_request("REFER", self.contact, extra=extra)
        self.ua.send(refer, call.dest, self._now())
        call.transfer_to = to_uri
        call.transfer_state = "requested"
        self._flush()
        return True

    def _agent_transfer(self, call: Call, to: str) -> None:
        """The agent's transfer_call: its tool already limited `to` to the targets it may use; the
        target still passes the one SIP destination check before it becomes a Refer-To."""
        try:
            to_uri = transfer_target(to, call.dest)
        except InvalidInput as exc:
            log.info("transfer of %s refused: %s", call.call_id, exc.message)
            return
        if not self.transfer(call, to_uri):
            log.info("transfer of %s to %s asked while the call is not up", call.call_id, to_uri)

    def _on_refer_outcome(self, event: Outcome) -> None:
        if event.transaction is None:
            return
        call = self.calls.get(event.transaction.request.call_id)
        if call is None:
            return
        if event.kind == "timeout" or (event.response is not None and event.response.status >= 300):
            log.info("REFER refused on %s; bridging through our media instead", call.call_id)
            call.transfer_state = "bridging"
            self._spawn(self._bridge_transfer(call))
        elif event.response is not None and event.response.status >= 200:
            call.transfer_state = "accepted"

    async def _bridge_transfer(self, call: Call) -> None:
        """The transfer the peer would not do: we call the target and carry the audio between them."""
        target = call.transfer_to
        plan = await self.transfer_route(call, target) if self.transfer_route and target else None
        if plan is None or call.state is not CallState.UP:
            call.transfer_state = "failed"
            return
        leg = self.dial(plan.to_uri, plan.dest, from_uri=plan.from_uri, credentials=plan.credentials)
        leg.business_id, leg.agent_id = call.business_id, call.agent_id
        leg.agent = BridgeAgent(call)
        call.bridged_to, leg.bridged_to = leg, call
        waiters = [asyncio.ensure_future(leg.answered.wait()), asyncio.ensure_future(leg.ended.wait())]
        try:
            await asyncio.wait(waiters, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if leg.state is not CallState.UP or call.state is not CallState.UP:
            call.transfer_state = "failed"
            call.bridged_to = None
            if leg.state is not CallState.ENDED:
                self.hangup(leg)
            return
        if call.media_session is not None:
            call.media_session.agent = BridgeAgent(leg)  # the caller now hears the target, and back
        call.transfer_state = "bridged"

    def _transfer_progress(self, notify: Request) -> None:
        """A NOTIFY of the transfer: its sipfrag body says how the new call went (RFC 3515 §2.4.5)."""
        call = self.calls.get(notify.call_id)
        if call is None or call.transfer_state not in ("requested", "accepted"):
            return
        first_line = notify.body.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        parts = first_line.split(" ")
        if len(parts) < 2 or not parts[1].isdigit():
            return
        status = int(parts[1])
        if 200 <= status < 300:
            call.transfer_state = "done"
            call.outcome = "transferred"
            self.hangup(call)
        elif status >= 300:
            call.transfer_state = "failed"

    # ---- registrations -------------------------------------------------------------------------
    def register(self, registration: Registration, dest: Addr, credentials: tuple[str, str] | None) -> None:
        """Keep `registration` registered at `dest`: sent now, refreshed and retried on its own timer."""
        self._registrations[registration.call_id] = (registration, dest, credentials)
        self._send_register(registration.call_id)

    def _send_register(self, call_id: str) -> None:
        found = self._registrations.get(call_id)
        if found is None:
            return
        registration, dest, credentials = found
        self.ua.send(registration.request(self._now()), dest, self._now(), credentials=credentials)
        self._flush()

    def _on_register_outcome(self, event: Outcome) -> None:
        if event.transaction is None:
            return
        found = self._registrations.get(event.transaction.request.call_id)
        if found is None or event.kind == "retried":
            return
        registration = found[0]
        now = self._now()
        if event.kind == "timeout":
            registration.on_timeout(now)
        elif event.response is not None and event.response.status >= 200:
            registration.on_response(event.response, now)
        else:
            return
        when = registration.get_timer()
        if when is not None:
            handle = asyncio.get_running_loop().call_at(when, self._send_register, registration.call_id)
            self._register_timers[registration.call_id] = handle

    def unregister(self, registration: Registration) -> None:
        """Stop refreshing `registration` (the carrier lets it lapse at its expiry)."""
        self._registrations.pop(registration.call_id, None)
        handle = self._register_timers.pop(registration.call_id, None)
        if handle is not None:
            handle.cancel()

    def unregister_all(self) -> None:
        for handle in self._register_timers.values():
            handle.cancel()
        self._register_timers.clear()
        self._registrations.clear()

    # ---- ending --------------------------------------------------------------------------------
    def hangup(self, call: Call) -> None:
        """BYE an answered call; CANCEL an outbound call still ringing (it ends when the 487 comes).
        A call carried by a media stream is hung up by its leg (which ends it)."""
        if call.leg is not None:
            call.ended_by = call.ended_by or "local"
            call.leg.hangup("local")
            return
        if call.state is CallState.UP and call.dialog is not None:
            self._send_bye(call)
        elif (
            call.direction == "outbound"
            and call.state is CallState.RINGING
            and call.invite_tx is not None
            and self.ua.cancel(call.invite_tx, self._now())
        ):
            call.outcome = call.outcome or "cancelled"
            call.ended_by = "local"
            self._flush()
            return
        self._end(call, "local", call.outcome)
        self._flush()

    def _send_bye(self, call: Call) -> None:
        if call.dialog is None:
            return
        dest = call.dest
        if dest is None:
            return
        bye = call.dialog.new_request("BYE", self.contact)
        self.ua.send(bye, dest, self._now())
        self.ua.end_dialog(call.dialog)

    def _early_media(self, call: Call, response: Response) -> None:
        """183 with SDP: the far end plays ringback or an announcement before it answers; hear it."""
        try:
            _, call.media = self._negotiate(response.body, call.rtp_port or 0, 1)
        except (SdpError, ParseError):
            log.info("early media SDP unusable on %s", call.call_id)
            return
        self._spawn(self._start_media(call))

    async def _start_media(self, call: Call) -> None:
        media = call.media
        if media is None or call.rtp_port is None or media.remote_address is None or call.ended.is_set():
            return
        if call.media_session is not None or call.media_starting:  # early media already runs it
            return
        call.media_starting = True
        try:
            await self._open_media(call, media)
        finally:
            call.media_starting = False

    async def _open_media(self, call: Call, media: Negotiated) -> None:
        if media.remote_address is None or call.rtp_port is None:
            return
        recording = None
        if call.record and self.recordings_dir is not None:
            path = self.recordings_dir / (call.business_id or "unknown") / f"{call.id}.wav"
            recording = call.recording = RecordingFile(path, media.codec.sample_rate)
        session = RtpSession(
            codec=make_codec(media.codec.name),
            remote=(media.remote_address, media.remote_port),
            agent=call.agent or SilentAgent(),
            clock=self.clock,
            telephone_event=media.telephone_event,
            on_hangup=lambda reason: self._session_hangup(call, reason),
            on_transfer=lambda to: self._agent_transfer(call, to),
            no_rtp_timeout_s=self.no_rtp_timeout_s,
            recorder=Recorder(media.codec.sample_rate, call.max_duration_s or 4 * 3600)
            if recording is not None
            else None,
            on_recorded=recording.write if recording is not None else lambda chunk: None,
        )
        try:
            await session.open(self.ua.local[1], call.rtp_port)
        except OSError as exc:
            log.warning("RTP port %s unusable for %s: %s", call.rtp_port, call.call_id, exc)
            self.hangup(call)
            return
        call.media_session = session
        if call.ended.is_set():
            self._close_media(call)
        elif call.max_duration_s is not None and (call.direction == "inbound" or call.state is CallState.UP):
            self._spawn(self._limit_duration(call, call.max_duration_s))

    async def _limit_duration(self, call: Call, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await call.ended.wait()
        except TimeoutError:
            if call.state is not CallState.ENDED:
                call.outcome = call.outcome or "max-duration"
                call.ended_by = "local"
                self.hangup(call)

    async def _save_recording(self, call: Call, recorder: Recorder, recording: RecordingFile) -> None:
        """The last of the mix, then the WAV's header and name (<recordings dir>/<business>/<call id>.wav)."""
        try:
            recording.write(recorder.take())
            call.recording_path = await recording.close()
        finally:
            call.recorded.set()

    def _session_hangup(self, call: Call, reason: str) -> None:
        call.ended_by = call.ended_by or ("network" if reason == "no-rtp" else "agent")
        call.outcome = call.outcome or ("failed" if reason == "no-rtp" else "completed")
        self.hangup(call)

    def _close_media(self, call: Call) -> None:
        session = call.media_session
        if session is not None:
            session.close()
            if session.recorder is not None and call.recording is not None:
                self._spawn(self._save_recording(call, session.recorder, call.recording))
            c = session.counters
            call.media_summary = {
                "packets_received": c.received,
                "packets_sent": c.sent,
                "silence_sent": c.silence_sent,
                "packets_lost": session.stats.lost,
                "jitter_ms": round(session.stats.jitter_ms, 2),
                "malformed": c.malformed,
                "wrong_source": c.wrong_source,
                "dtmf_received": c.dtmf_received,
                "concealed": session.jitter.counters.concealed,
                "rtcp_reports_received": session.rtcp.reports_received,
                "remote_fraction_lost": session.rtcp.remote_fraction_lost,
                "remote_jitter_ms": round(session.rtcp.remote_jitter_ms, 2),
            }
            call.media_session = None
        if call.rtp_port is not None:
            self.ports.release(call.rtp_port)
            call.rtp_port = None

    def _free_rtp_port(self) -> int:
        """A port of the range that is free right now, RTCP's next to it: the range is ours to hand out,
        but another process may still hold a port of it, and a port in our SDP must be one we can bind."""
        busy: list[int] = []
        try:
            for _ in range(64):
                port = self.ports.allocate()
                busy.append(port)  # given back unless it is the one returned, whatever is raised
                if _bindable(self.ua.local[1], port) and _bindable(self.ua.local[1], port + 1):
                    busy.pop()
                    return port
            raise PortsExhausted("no free RTP port pair found in 64 tries")
        finally:
            for port in busy:
                self.ports.release(port)

    def _keep(self, call: Call) -> None:
        self.calls[call.call_id] = call
        for old in self.book.keep(call):  # the oldest ended calls, forgotten to make room
            if self.calls.get(old.call_id) is old:
                del self.calls[old.call_id]

    def _answered(self, call: Call) -> None:
        self.book.answered(call)

    def _end(self, call: Call, by: str, outcome: str | None) -> None:
        if call.state is CallState.ENDED:
            return
        partner, call.bridged_to = call.bridged_to, None
        if partner is not None:
            partner.bridged_to = None  # unlinked first, so the partner's end does not come back here
            if partner.state is not CallState.ENDED:  # one side left: so does the other
                partner.outcome = partner.outcome or "completed"
                self.hangup(partner)
        self._close_media(call)
        self.book.finish(call, by, outcome)

    def announce_ended(self, call: Call) -> None:
        self.book.announce_ended(call)
