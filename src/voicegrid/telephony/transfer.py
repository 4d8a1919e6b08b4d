"""Blind transfer of SIP calls (RFC 3515): REFER the peer to the target and leave once its NOTIFY
reports success; when the peer refuses REFER, call the target ourselves and bridge the two calls'
audio through our media."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from voicegrid.sip.headers import Headers
from voicegrid.sip.message import Request
from voicegrid.sip.useragent import Addr
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.bridge import BridgeAgent
from voicegrid.telephony.targets import transfer_target
from voicegrid.tenancy.errors import InvalidInput

log = logging.getLogger(__name__)
BRIDGE_ANSWER_S = 60.0


@dataclass(frozen=True, slots=True)
class DialPlan:
    """How to reach a transfer target ourselves: Request-URI, next hop, From, and trunk credentials."""

    to_uri: str
    dest: Addr
    from_uri: str
    credentials: tuple[str, str] | None = None
    trunk_id: str | None = None
    suppress_silence: bool | None = None  # the trunk's RTP silence suppression; None: the node's


TransferRoute = Callable[[Call, str], Awaitable[DialPlan | None]]


class Referrer(Protocol):
    """What asking the peer to transfer needs of call control: a request in the call's dialog."""

    def send_in_dialog(self, call: Call, method: str, extra: Headers) -> None: ...
    @property
    def contact(self) -> str: ...


class Line(Referrer, Protocol):
    """What following a transfer through needs besides: placing the bridged leg, hanging up."""

    def dial(
        self, to_uri: str, dest: Addr, *, from_uri: str, credentials: tuple[str, str] | None = None
    ) -> Call: ...
    def hangup(self, call: Call) -> None: ...
    def spawn(self, work: Coroutine[Any, Any, None]) -> None: ...


class Transfers:
    """Each step is given the call control it acts through (`Referrer` or `Line`)."""

    def __init__(self, route: TransferRoute | None = None) -> None:
        self.route = route  # how to reach a target ourselves, for bridging (the call service's)

    def refer(self, line: Referrer, call: Call, to_uri: str) -> bool:
        """Ask the peer to call `to_uri`; False when the call is not up."""
        if call.state is not CallState.UP or call.dialog is None or call.dest is None:
            return False
        extra = Headers()
        extra.add("Refer-To", f"<{to_uri}>")
        extra.add("Referred-By", line.contact)
        line.send_in_dialog(call, "REFER", extra)
        call.transfer_to = to_uri
        call.transfer_state = "requested"
        return True

    def agent_asked(self, line: Referrer, call: Call, to: str) -> None:
        """The agent's transfer_call: its tool already limited `to` to the targets it may use; the
        target still passes the one SIP destination check before it becomes a Refer-To."""
        try:
            to_uri = transfer_target(to, call.dest)
        except InvalidInput as exc:
            log.info("transfer of %s refused: %s", call.call_id, exc.message)
            return
        if not self.refer(line, call, to_uri):
            log.info("transfer of %s to %s asked while the call is not up", call.call_id, to_uri)

    def refer_answered(self, line: Line, call: Call, status: int | None) -> None:
        """The REFER's final response (None: it timed out)."""
        if status is None or status >= 300:
            log.info("REFER refused on %s; bridging through our media instead", call.call_id)
            call.transfer_state = "bridging"
            line.spawn(self._bridge(line, call))
        elif status >= 200:
            call.transfer_state = "accepted"

    def notified(self, line: Line, call: Call, notify: Request) -> None:
        """A NOTIFY of the transfer: its sipfrag body says how the new call went (RFC 3515 §2.4.5)."""
        if call.transfer_state not in ("requested", "accepted"):
            return
        first_line = notify.body.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        parts = first_line.split(" ")
        if len(parts) < 2 or not parts[1].isdigit():
            return
        status = int(parts[1])
        if 200 <= status < 300:
            call.transfer_state = "done"
            call.outcome = "transferred"
            line.hangup(call)
        elif status >= 300:
            call.transfer_state = "failed"

    async def _bridge(self, line: Line, call: Call) -> None:
        """The transfer the peer would not do: we call the target and carry the audio between them."""
        target = call.transfer_to
        plan = await self.route(call, target) if self.route and target else None
        if plan is None or call.state is not CallState.UP:
            call.transfer_state = "failed"
            return
        leg = line.dial(plan.to_uri, plan.dest, from_uri=plan.from_uri, credentials=plan.credentials)
        leg.business_id, leg.agent_id = call.business_id, call.agent_id
        leg.agent_version = call.agent_version
        leg.agent = BridgeAgent(call)
        call.bridged_to, leg.bridged_to = leg, call
        waiters = [asyncio.ensure_future(leg.answered.wait()), asyncio.ensure_future(leg.ended.wait())]
        try:
            await asyncio.wait(waiters, timeout=BRIDGE_ANSWER_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if leg.state is not CallState.UP or call.state is not CallState.UP:
            call.transfer_state = "failed"
            call.bridged_to = None
            if leg.state is not CallState.ENDED:
                line.hangup(leg)
            return
        if call.media_session is not None:
            call.media_session.agent = BridgeAgent(leg)  # the caller now hears the target, and back
        call.transfer_state = "bridged"
