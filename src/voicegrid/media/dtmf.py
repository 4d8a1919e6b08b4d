"""Telephone events (RFC 4733): the payload, a receiver that reports each digit once, and a sender.

An event is identified by its RTP timestamp (§2.5.1): the first packet starts it, the packet with the
E bit ends it, and the redundant end packets (§2.5.1.4) are ignored. Durations from the wire are
clamped, so an absurd value cannot stall the receiver or the caller's menu.
"""

import struct
from dataclasses import dataclass

from voicegrid.media.errors import RtpError

EVENTS = "0123456789*#ABCD"
MAX_DURATION_MS = 8_000
MIN_DURATION_MS = 40


@dataclass(frozen=True, slots=True)
class EventPayload:
    event: int
    end: bool
    volume: int
    duration: int  # timestamp units

    @classmethod
    def parse(cls, payload: bytes) -> "EventPayload":
        if len(payload) < 4:
            raise RtpError("telephone-event payload shorter than 4 bytes")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        return struct.pack(
            "!BBH", self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration & 0xFFFF
        )


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str
    duration_ms: int
    rtp_timestamp: int


class DtmfReceiver:
    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self._current: int | None = None  # timestamp of the event in progress
        self._ended: set[int] = set()

    def receive(self, rtp_timestamp: int, payload: bytes) -> Digit | None:
        """Feed one telephone-event packet; a Digit comes back once, when its event ends."""
        event = EventPayload.parse(payload)
        if event.event >= len(EVENTS) or rtp_timestamp in self._ended:
            return None
        self._current = rtp_timestamp
        if not event.end:
            return None
        self._ended.add(rtp_timestamp)
        if len(self._ended) > 64:  # bounded memory: only recent events can be repeated
            self._ended = set(sorted(self._ended)[-32:])
        self._current = None
        ms = event.duration * 1000 // self.clock_rate
        return Digit(EVENTS[event.event], max(MIN_DURATION_MS, min(ms, MAX_DURATION_MS)), rtp_timestamp)

    @property
    def in_progress(self) -> bool:
        return self._current is not None


def event_packets(
    digit: str, *, duration_ms: int = 100, ptime_ms: int = 20, clock_rate: int = 8000
) -> list[bytes]:
    """The payloads a sender sends for one digit: updates every ptime, then the end three times (§2.5.1.4)."""
    if digit not in EVENTS:
        raise RtpError(f"not a DTMF digit: {digit!r}")
    code = EVENTS.index(digit)
    duration_ms = max(MIN_DURATION_MS, min(duration_ms, MAX_DURATION_MS))
    step = ptime_ms * clock_rate // 1000
    total = duration_ms * clock_rate // 1000
    payloads = [bytes(EventPayload(code, False, 10, d)) for d in range(step, total, step)]
    payloads += [bytes(EventPayload(code, True, 10, total))] * 3
    return payloads
