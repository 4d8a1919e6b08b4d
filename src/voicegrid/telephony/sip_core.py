"""The state and the shared moves of SIP call control: the calls by Call-ID, the user agent and its
transport, media start and stop, hang-up, BYE, the end of a call, and the drain. `CallControl`
(calls.py) adds inbound (inbound.py) and outbound (outbound.py) calls on top of it.
"""

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicegrid.media.ports import PortAllocator
from voicegrid.sip.headers import Headers
from voicegrid.sip.message import Request
from voicegrid.sip.sdp import Negotiated, SessionDescription, answer, parse_sdp
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.telephony.book import Call, CallBook, CallState
from voicegrid.telephony.call_media import CallMedia
from voicegrid.telephony.edge import EdgeTrust
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.plan import CallPlan, Refuse
from voicegrid.telephony.ratelimit import SourceRateLimiter
from voicegrid.telephony.registrations import RegistrationTimers
from voicegrid.telephony.sip_transport import DEFAULT_TCP_LIMITS, SipEndpoint, TcpLimits
from voicegrid.telephony.transfer import TransferRoute, Transfers

log = logging.getLogger(__name__)


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
class SipLeg:
    """How a SIP call is hung up from outside call control (the API, the drain): BYE or CANCEL."""

    control: "CallCore"
    call: Call

    def hangup(self, reason: str = "local") -> None:
        self.control.hangup(self.call)


class CallCore:
    def __init__(
        self,
        ua: UserAgent,
        decide: Decide,
        *,
        ports: PortAllocator | None = None,
        clock: MediaClock | None = None,
        no_rtp_timeout_s: float = 30.0,
        suppress_silence: bool = False,
        limiter: SourceRateLimiter | None = None,
        recordings_dir: Path | None = None,
        transfer_route: TransferRoute | None = None,
        tcp: TcpLimits = DEFAULT_TCP_LIMITS,
        book: CallBook | None = None,
        edge: EdgeTrust | None = None,
    ) -> None:
        self.book = book or CallBook()  # every call of the node, SIP or not
        self.edge = edge or EdgeTrust()  # the SIP edges whose X-Voicegrid-Source names the caller
        self.tcp = tcp
        self.ua = ua
        self.limiter = limiter or SourceRateLimiter()
        self.draining = False
        self.decide = decide
        self.endpoint: SipEndpoint | None = None
        self.calls: dict[str, Call] = {}  # by Call-ID
        self.clock = clock or MediaClock()
        self.media = CallMedia(
            ports or PortAllocator(),
            self.clock,
            no_rtp_timeout_s=no_rtp_timeout_s,
            suppress_silence=suppress_silence,
            recordings_dir=recordings_dir,
        )
        self.transfers = Transfers(transfer_route)
        self.registrations = RegistrationTimers(self._send_out_of_dialog, self._now)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session = secrets.randbelow(2**31)

    async def stop(self) -> None:
        self.registrations.unregister_all()
        for call in list(self.calls.values()):
            self._close_media(call)
        for task in list(self._tasks):
            task.cancel()
        if self.endpoint is not None:
            await self.endpoint.stop()
        await self.clock.stop()

    @property
    def recordings_dir(self) -> Path | None:
        return self.media.recordings_dir

    @property
    def contact(self) -> str:
        _, host, port = self.ua.local
        return f"<sip:voicegrid@{host}:{port}>"

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _flush(self) -> None:
        if self.endpoint is not None:
            self.endpoint.flush()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _send_out_of_dialog(self, request: Request, dest: Addr, credentials: tuple[str, str] | None) -> None:
        self.ua.send(request, dest, self._now(), credentials=credentials)
        self._flush()

    def send_in_dialog(self, call: Call, method: str, extra: Headers) -> None:
        if call.dialog is not None and call.dest is not None:
            self.ua.send(call.dialog.new_request(method, self.contact, extra=extra), call.dest, self._now())
            self._flush()

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
            if call.leg is not None:  # SIP or a media stream: each hangs up its own way
                call.leg.hangup("local")
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

    # ---- media ---------------------------------------------------------------------------------
    async def _start_media(self, call: Call) -> None:
        if call.media_session is not None or call.media_starting or call.ended.is_set():
            return  # early media already runs it, or the call is over
        call.media_starting = True
        try:
            opened = await self.media.open(
                call,
                self.ua.local[1],
                lambda reason: self._session_hangup(call, reason),
                lambda to: self.transfers.agent_asked(self, call, to),
            )
        finally:
            call.media_starting = False
        if not opened:
            self.hangup(call)
        elif call.ended.is_set():
            self._close_media(call)
        elif (
            call.media_session is not None
            and call.max_duration_s is not None
            and (call.direction == "inbound" or call.state is CallState.UP)
        ):
            self.spawn(self._limit_duration(call, call.max_duration_s))

    async def _limit_duration(self, call: Call, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await call.ended.wait()
        except TimeoutError:
            if call.state is not CallState.ENDED:
                call.outcome = call.outcome or "max-duration"
                call.ended_by = "local"
                self.hangup(call)

    def _session_hangup(self, call: Call, reason: str) -> None:
        call.ended_by = call.ended_by or ("network" if reason == "no-rtp" else "agent")
        call.outcome = call.outcome or ("failed" if reason == "no-rtp" else "completed")
        self.hangup(call)

    def _close_media(self, call: Call) -> None:
        finish = self.media.close(call)
        if finish is not None:
            self.spawn(finish)

    # ---- ending --------------------------------------------------------------------------------
    def hangup(self, call: Call) -> None:
        """BYE an answered call; CANCEL an outbound call still ringing (it ends when the 487 comes)."""
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
        if call.dialog is None or call.dest is None:
            return
        self.ua.send(call.dialog.new_request("BYE", self.contact), call.dest, self._now())
        self.ua.end_dialog(call.dialog)

    def _keep(self, call: Call) -> None:
        call.leg = SipLeg(self, call)
        self.calls[call.call_id] = call
        for old in self.book.keep(call):  # the oldest ended calls, forgotten to make room
            if self.calls.get(old.call_id) is old:
                del self.calls[old.call_id]

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
