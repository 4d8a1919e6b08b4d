"""Twilio Media Streams (bidirectional, `<Connect><Stream>`) as a call session for our agents.

Protocol per twilio.com/docs/voice/media-streams/websocket-messages: JSON text frames; Twilio sends
`connected`, `start` (streamSid, customParameters, mediaFormat audio/x-mulaw 8000 Hz mono),
`media` (base64 μ-law, 20 ms), `dtmf`, `mark` and `stop`; we send `media`, `mark` and `clear`.
The core below is sans-I/O: it is fed text and the time, and returns the text frames to send.
Outbound audio is paced by the process's media clock, one 20 ms frame per tick; `flush()` sends
`clear`, so Twilio drops what it has buffered (barge-in); a mark is answered once the audio
queued before it has gone out.
"""

import base64
import binascii
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from voicegrid.media.g711 import ulaw_decode, ulaw_encode
from voicegrid.media.session import Agent, AudioFrame, OutboundAudio, Pcm

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 64 * 1024


@dataclass
class StreamCounters:
    media_in: int = 0
    media_out: int = 0
    invalid: int = 0
    dtmf: int = 0
    clears: int = 0


@dataclass
class StreamStart:
    stream_sid: str
    call_sid: str | None
    parameters: dict[str, str] = field(default_factory=dict)


class TwilioStream:
    sample_rate = 8000

    def __init__(self, send_text: Callable[[str], None], on_close: Callable[[str], None]) -> None:
        self.send_text = send_text
        self.on_close = on_close
        self.agent: Agent | None = None
        self.start: StreamStart | None = None
        self.counters = StreamCounters()
        self.outbound = OutboundAudio(8000)
        self._marks: deque[tuple[int, str]] = deque()  # (frames still to send before it, name)
        self._media_time = 0.0
        self.closed = False

    # ---- in ------------------------------------------------------------------------------------
    def receive(self, text: str) -> StreamStart | None:
        """Feed one text frame; returns the start metadata when the `start` message arrives."""
        if len(text) > MAX_FRAME_BYTES:
            self.counters.invalid += 1
            return None
        try:
            message = json.loads(text)
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            self.counters.invalid += 1
            return None
        if event == "start" and self.start is None:
            start = message.get("start") or {}
            params = start.get("customParameters") or {}
            self.start = StreamStart(
                str(message.get("streamSid") or start.get("streamSid") or ""),
                start.get("callSid"),
                {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {},
            )
            return self.start
        if event == "media" and self.agent is not None:
            self._media(self.agent, message)
        elif event == "dtmf" and self.agent is not None:
            digit = str((message.get("dtmf") or {}).get("digit", ""))
            if len(digit) == 1 and digit in "0123456789*#ABCD":
                self.counters.dtmf += 1
                self.agent.on_dtmf(self, digit)
        elif event == "stop":
            self.hangup("remote")
        return None

    def _media(self, agent: Agent, message: dict[str, object]) -> None:
        media = message.get("media")
        if not isinstance(media, dict) or media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return
        try:
            payload = base64.b64decode(str(media.get("payload", "")), validate=True)
        except (binascii.Error, ValueError):
            self.counters.invalid += 1
            return
        if not payload:
            return
        self.counters.media_in += 1
        pcm = ulaw_decode(payload)
        agent.on_audio(self, AudioFrame(pcm, 8000, self._media_time))
        self._media_time += len(pcm) / 8000

    # ---- the clock's tick: one frame out -------------------------------------------------------
    def on_tick(self, scheduled: float, now: float) -> None:
        if self.closed or self.start is None:
            return
        pcm = self.outbound.pop()
        if pcm is not None:
            payload = base64.b64encode(ulaw_encode(pcm)).decode()
            self.send_text(
                json.dumps(
                    {"event": "media", "streamSid": self.start.stream_sid, "media": {"payload": payload}}
                )
            )
            self.counters.media_out += 1
            self._marks = deque((n - 1, name) for n, name in self._marks)
        while self._marks and self._marks[0][0] <= 0:
            _, name = self._marks.popleft()
            self.send_text(
                json.dumps({"event": "mark", "streamSid": self.start.stream_sid, "mark": {"name": name}})
            )

    # ---- CallSession ---------------------------------------------------------------------------
    def queue(self, pcm: Pcm) -> None:
        self.outbound.push(pcm)

    def mark(self, name: str) -> None:
        """Be told (a `mark` back) once everything queued before now has been sent."""
        self._marks.append((len(self.outbound) + (1 if self.outbound._partial.size else 0), name))

    def mark_played(self, callback: Callable[[], None]) -> None:
        self.outbound.mark(callback)

    def flush(self) -> int:
        dropped = self.outbound.flush()
        self._marks.clear()
        if self.start is not None and not self.closed:
            self.send_text(json.dumps({"event": "clear", "streamSid": self.start.stream_sid}))
            self.counters.clears += 1
        return dropped

    def hangup(self, reason: str = "agent") -> None:
        if not self.closed:
            self.closed = True
            if self.agent is not None:
                self.agent.on_end(self)
            self.on_close(reason)

    def transfer(self, to: str) -> None:
        log.info("transfer to %s asked on a media stream: the carrier's call control must do it", to)

    def send_dtmf(self, digits: str) -> None:
        log.info("DTMF %s asked on a media stream, which cannot carry it", digits)
