"""Every call of this node, whatever carries it: one `Call` each, found by id, announced when
answered and when ended.

SIP calls (`CallControl`) and calls over WebSocket media streams (Twilio, Telnyx, the browser) are
kept here alike, so the API finds, lists and hangs up any of them, and the call records, metrics and
webhooks hear of every one. Every call on a transport has a `leg`: how to hang it up from outside
(the API, the drain), whatever carries it.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from voicegrid.analytics.record import CallRecord
from voicegrid.core.clock import utcnow
from voicegrid.media.session import Talker
from voicegrid.sip.dialog import Dialog
from voicegrid.sip.sdp import Negotiated
from voicegrid.sip.transaction import ClientTransaction
from voicegrid.sip.useragent import Addr, Incoming
from voicegrid.telephony.plan import CallPlan, Conversation
from voicegrid.telephony.recording_file import RecordingFile

if TYPE_CHECKING:
    from voicegrid.telephony.rtp_session import RtpSession

log = logging.getLogger(__name__)
# Ended calls stay in memory for the API a minute (their records are stored by then, and the API
# reads them from the store), and never more than MAX_KEPT_CALLS of them (the store is slow, say).
KEEP_ENDED_S = 60.0
MAX_KEPT_CALLS = 10_000


class CallState(Enum):
    QUEUED = "queued"  # outbound, waiting for capacity (held by the call service, not yet dialled)
    RINGING = "ringing"
    UP = "up"
    ENDED = "ended"


class Leg(Protocol):
    """How a call is hung up from outside: SIP sends BYE or CANCEL, a media stream closes its socket."""

    def hangup(self, reason: str = "agent") -> None: ...


@dataclass(frozen=True, slots=True)
class EndedConversation:
    """What an ended call keeps of its conversation: the summary it showed last (transcript, turns,
    usage), without the pipeline that made it."""

    kept: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return self.kept

    async def wait_closed(self) -> None:
        return None

    async def reserve_stt(self) -> None:
        return None

    async def unreserve_stt(self) -> None:
        return None

    def release(self) -> None:
        return None


@dataclass(eq=False)
class Call:
    id: str
    direction: str
    call_id: str  # SIP Call-ID; for a media stream, the carrier's id of the call (Twilio's CallSid)
    state: CallState = CallState.RINGING
    transport: str = "sip"  # sip, twilio, telnyx, browser
    leg: Leg | None = None  # set once the call is on a transport; None while queued
    dialog: Dialog | None = None
    media: Negotiated | None = None
    incoming: Incoming | None = None
    dest: Addr | None = None
    caller: Addr | None = None  # an inbound SIP call's source: the transport's, or its edge's word
    outcome: str | None = None  # answered, busy, no-answer, cancelled, failed, ...
    invite_tx: ClientTransaction | None = None
    rtp_port: int | None = None
    media_session: "RtpSession | None" = None
    agent: Talker | None = None
    media_summary: dict[str, float] = field(default_factory=dict)  # kept when the session closes
    media_starting: bool = False
    transfer_to: str | None = None
    transfer_state: str | None = None  # requested, accepted, done, failed, bridging, bridged
    bridged_to: "Call | None" = None
    max_duration_s: float | None = None
    business_id: str | None = None
    agent_id: str | None = None
    agent_version: int | None = None
    trunk_id: str | None = None
    suppress_silence: bool | None = None  # its trunk's RTP silence suppression; None: the node's setting
    from_number: str | None = None
    to: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    amd: dict[str, Any] | None = None  # answering-machine detection's verdict (outbound, when asked)
    created_at: datetime = field(default_factory=utcnow)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    record: bool = False
    recording: RecordingFile | None = None  # written as the call goes
    recording_path: Path | None = None  # set once the WAV is whole
    recorded: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str | None = None
    conversation: Conversation | None = None  # transcript, turns, usage (voice agents)
    on_end: Callable[[], None] | None = None  # runs once when the call ends (admission's release)
    call_record: CallRecord | None = None  # what the call left behind (analytics), once built
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def apply(self, plan: CallPlan) -> None:
        """What admission planned: who talks, for whom, for how long, recorded or not."""
        self.agent = plan.talker
        self.conversation = plan.conversation
        self.business_id, self.agent_id = plan.business_id, plan.agent_id
        self.agent_version = plan.agent_version
        self.metadata.update(plan.metadata)
        self.max_duration_s = plan.max_duration_s
        self.record = plan.record
        self.on_end = plan.release
        if plan.trunk_id is not None:
            self.trunk_id, self.suppress_silence = plan.trunk_id, plan.suppress_silence

    def summary(self) -> dict[str, Any] | None:
        """The conversation so far (voice agents), as the API and the record show it."""
        return self.conversation.summary() if self.conversation is not None else None

    def settle(self) -> None:
        """Once the call has ended and its record is made: let go of what carried it (the agent's
        pipeline and its provider connections, the SIP request, transaction and dialog, the media
        description, the recording's writer, the call it was bridged to), keeping what the API
        shows of an ended call. Without this, an ended call held its whole pipeline (about 100 KB)
        for as long as the book kept it, and, the pipeline being full of references back to itself,
        the cycle collector had to free it after that."""
        if self.state is not CallState.ENDED:
            return
        live = self.conversation
        if live is not None and not isinstance(live, EndedConversation):
            self.conversation = EndedConversation(live.summary())
            live.release()
        self.agent = self.leg = self.dialog = self.media = self.incoming = None
        self.invite_tx = self.recording = self.bridged_to = self.on_end = None


class CallBook:
    def __init__(
        self,
        max_kept: int = MAX_KEPT_CALLS,
        keep_ended_s: float = KEEP_ENDED_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_kept, self.keep_ended_s, self.clock = max_kept, keep_ended_s, clock
        self.by_id: dict[str, Call] = {}
        self._ended: deque[tuple[float, Call]] = deque()  # (when, call), in the order they ended
        self.ended_listeners: list[Callable[[Call], None]] = []  # e.g. the call records
        self.answered_listeners: list[Callable[[Call], None]] = []  # e.g. call.started webhooks

    def keep(self, call: Call) -> list[Call]:
        """Keep `call`; returns the ended calls forgotten meanwhile (live ones always stay)."""
        self.by_id[call.id] = call
        return self.forget_ended()

    def forget_ended(self) -> list[Call]:
        """Forget the calls that ended more than `keep_ended_s` ago, and the oldest ended ones while
        more than `max_kept` calls are kept; returns them."""
        gone = []
        horizon = self.clock() - self.keep_ended_s
        while self._ended and (self._ended[0][0] <= horizon or len(self.by_id) > self.max_kept):
            _, old = self._ended.popleft()
            if self.by_id.get(old.id) is old:
                del self.by_id[old.id]
                gone.append(old)
        return gone

    @property
    def active(self) -> list[Call]:
        return [c for c in self.by_id.values() if c.state not in (CallState.ENDED, CallState.QUEUED)]

    def answered(self, call: Call) -> None:
        call.state = CallState.UP
        call.answered_at = utcnow()
        call.answered.set()
        for listener in self.answered_listeners:
            try:
                listener(call)
            except Exception:  # a listener's bug must not stop the call
                log.exception("call answer listener failed")

    def finish(self, call: Call, by: str, outcome: str | None) -> None:
        """Mark `call` ended (once), give back what it held, and announce it."""
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        call.ended_at = utcnow()
        self._ended.append((self.clock(), call))
        call.ended_by = call.ended_by or by
        call.outcome = call.outcome or outcome or "completed"
        call.ended.set()
        release, call.on_end = call.on_end, None
        if release is not None:
            try:
                release()
            except Exception:  # a release that fails must not leave the call half-ended
                log.exception("call end hook failed")
        self.announce_ended(call)

    def announce_ended(self, call: Call) -> None:
        """Tell the end listeners (records, metrics) that `call` ended; also for calls that never
        reached a transport (an outbound call that left the queue undialled)."""
        for listener in self.ended_listeners:
            try:
                listener(call)
            except Exception:  # one listener's bug must not stop the others or the hangup
                log.exception("call end listener failed")
