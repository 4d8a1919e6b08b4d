"""What Twilio Media Streams and Telnyx media streaming share: JSON text frames, base64 G.711 at
8 kHz both ways, `mark` and `clear`. Sans-I/O: fed text and ticks, it returns text to send.

A `Dialect` says how one carrier spells it: how its `start` frame reads, how the frames we send are
wrapped, and which auth token a `connected` frame carries. Outbound audio is paced by the media
clock, one 20 ms frame per tick; `flush()` sends `clear` so the carrier drops what it buffered
(barge-in); a mark is sent once the audio queued before it has gone out.
"""

import binascii
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pybase64

from voicegrid.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voicegrid.media.session import AudioFrame, Talker
from voicegrid.transports.leg import StreamLegBase

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 64 * 1024
MAX_FRAGMENTS = 64  # frames of one message (carriers send each message whole, in one frame)
MAX_PARAMETERS = 32
MAX_PARAMETER_CHARS = 256
DIGITS = frozenset("0123456789*#ABCD")


@dataclass
class StreamCounters:
    media_in: int = 0
    media_out: int = 0
    invalid: int = 0
    dtmf: int = 0
    clears: int = 0


@dataclass(frozen=True, slots=True)
class StreamStart:
    """What a carrier's `start` frame says of the call (every string bounded, none trusted)."""

    stream_id: str
    carrier_call_id: str | None
    parameters: dict[str, str] = field(default_factory=dict)
    from_number: str | None = None
    to: str | None = None
    encoding: str = "PCMU"


def bounded_parameters(raw: object) -> dict[str, str]:
    """A carrier's custom parameters, as a dict of short strings: a dict, or a list of name/value."""
    pairs: list[tuple[object, object]] = []
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = [(p.get("name"), p.get("value")) for p in raw if isinstance(p, dict)]
    return {
        str(k)[:MAX_PARAMETER_CHARS]: str(v)[:MAX_PARAMETER_CHARS]
        for k, v in pairs[:MAX_PARAMETERS]
        if k is not None and v is not None
    }


def short(value: object, limit: int = 128) -> str | None:
    return None if value is None else str(value)[:limit]


def _no_token(message: dict[str, Any]) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one carrier spells the shared protocol."""

    carrier: str
    parse_start: Callable[[dict[str, Any]], StreamStart]
    envelope: Callable[[StreamStart | None, str, dict[str, Any]], str]  # (start, event, body) -> frame
    connected: Callable[[dict[str, Any]], str | None] = (
        _no_token  # the auth token a `connected` frame carries
    )
    inbound_tracks: tuple[str, ...] = ("inbound", "inbound_track")


class CarrierStream(StreamLegBase):
    sample_rate = 8000

    def __init__(
        self, dialect: Dialect, send_text: Callable[[str], None], on_close: Callable[[str], None]
    ) -> None:
        super().__init__(on_close)
        self.dialect = dialect
        self.carrier = dialect.carrier
        self.auth_token: str | None = None  # from the `connected` frame, when the carrier sends one
        self.send_text = send_text
        self.start: StreamStart | None = None
        self.counters = StreamCounters()
        self._marks: deque[tuple[int, str]] = deque()  # (frames still to send before it, name)
        self._media_time = 0.0
        self._decode, self._encode = ulaw_decode, ulaw_encode

    def _envelope(self, event: str, body: dict[str, Any] | None = None) -> str:
        return self.dialect.envelope(self.start, event, body or {})

    # ---- in ------------------------------------------------------------------------------------
    def receive(self, text: str | bytes) -> StreamStart | None:
        """Feed one text frame (as text, or its UTF-8 bytes); returns the start metadata when the
        `start` frame arrives."""
        if len(text) > MAX_FRAME_BYTES:
            self.counters.invalid += 1
            return None
        try:
            message = orjson.loads(text)  # native: a third of the stdlib's time per media frame
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            self.counters.invalid += 1
            return None
        if event == "connected" and self.start is None:
            self.auth_token = self.dialect.connected(message)
            return None
        if event == "start" and self.start is None:
            start = self.dialect.parse_start(message)
            if start.encoding == "PCMA":
                self._decode, self._encode = alaw_decode, alaw_encode
            self.start = start
            return start
        if event == "media" and self.agent is not None:
            self._media(self.agent, message)
        elif event == "dtmf" and self.agent is not None:
            dtmf = message.get("dtmf")
            digit = str(dtmf.get("digit", "")) if isinstance(dtmf, dict) else ""
            if len(digit) == 1 and digit in DIGITS:
                self.counters.dtmf += 1
                self.agent.on_dtmf(self, digit)
        elif event == "stop":
            self.hangup("remote")
        elif event == "error":
            log.info("%s stream error: %s", self.carrier, str(message.get("payload"))[:200])
        return None

    def _media(self, agent: Talker, message: dict[str, Any]) -> None:
        media = message.get("media")
        if not isinstance(media, dict) or media.get("track", "inbound") not in self.dialect.inbound_tracks:
            return
        try:
            payload = pybase64.b64decode(str(media.get("payload", "")), validate=True)  # native, SIMD
        except (binascii.Error, ValueError):
            self.counters.invalid += 1
            return
        if not payload:
            return
        self.counters.media_in += 1
        pcm = self._decode(payload)
        agent.on_audio(self, AudioFrame(pcm, 8000, self._media_time))
        self._media_time += len(pcm) / 8000

    # ---- the clock's tick: one frame out -------------------------------------------------------
    def on_tick(self, scheduled: float, now: float) -> None:
        if self.closed or self.start is None:
            return
        pcm = self.outbound.pop()
        if pcm is not None:
            payload = pybase64.b64encode(self._encode(pcm)).decode()
            self.send_text(self._envelope("media", {"media": {"payload": payload}}))
            self.counters.media_out += 1
            self._marks = deque((n - 1, name) for n, name in self._marks)
        while self._marks and self._marks[0][0] <= 0:
            _, name = self._marks.popleft()
            self.send_text(self._envelope("mark", {"mark": {"name": name}}))

    # ---- CallSession ---------------------------------------------------------------------------
    def mark(self, name: str) -> None:
        """Be told (a `mark` back) once everything queued before now has been sent."""
        self._marks.append((self.outbound.frames_pending(), name))

    def flush(self) -> int:
        dropped = self.outbound.flush()
        self._marks.clear()
        if self.start is not None and not self.closed:
            self.send_text(self._envelope("clear"))
            self.counters.clears += 1
        return dropped

    def transfer(self, to: str) -> None:
        log.info("transfer asked on a %s stream: the carrier's call control must do it", self.carrier)

    def send_dtmf(self, digits: str) -> None:
        log.info("DTMF asked on a %s stream, which cannot carry it", self.carrier)
