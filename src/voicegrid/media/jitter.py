"""An adaptive jitter buffer, sans-I/O: packets pushed as they arrive, one frame popped per playout tick.

It reorders by sequence number (with 16-bit wrap), drops duplicates and packets that come after
their playout time, conceals gaps (a `lost` frame the decoder fills in), and adapts its target delay
to the measured jitter: up after underruns, down (by skipping a frame) when it holds more than it
needs for a while. Every count is exposed for the call record.
"""

from dataclasses import dataclass

from voicegrid.media.rtp import RtpPacket


@dataclass(slots=True, init=False)  # not frozen: compiled, a frozen dataclass's __init__ is interpreted
class Frame:
    """One frame out of the buffer; nothing changes it after it is made."""

    sequence: int  # extended (never wraps)
    payload: bytes | None  # None: lost, to be concealed
    timestamp: int | None

    def __init__(self, sequence: int, payload: bytes | None, timestamp: int | None = None) -> None:
        self.sequence = sequence
        self.payload = payload
        self.timestamp = timestamp

    @property
    def lost(self) -> bool:
        return self.payload is None


@dataclass
class JitterCounters:
    received: int = 0
    played: int = 0
    concealed: int = 0
    duplicates: int = 0
    late: int = 0
    overflow: int = 0
    skipped: int = 0  # frames dropped to shrink the delay
    underruns: int = 0


class JitterBuffer:
    def __init__(
        self,
        *,
        clock_rate: int = 8000,
        frame_ms: int = 20,
        min_delay_ms: int = 20,
        max_delay_ms: int = 300,
        initial_delay_ms: int = 60,
        max_packets: int = 64,
    ) -> None:
        self.clock_rate = clock_rate
        self.frame_ms = frame_ms
        self.min_delay_ms = min_delay_ms
        self.max_delay_ms = max_delay_ms
        self.target_ms = float(initial_delay_ms)
        self.max_packets = max_packets
        self.counters = JitterCounters()
        self.jitter_ms = 0.0
        self._packets: dict[int, RtpPacket] = {}
        self._highest: int | None = None  # extended sequence of the newest packet
        self._next: int | None = None  # extended sequence to play next; None while buffering
        self._transit: float | None = None
        self._surplus_ticks = 0
        self._waited = 0

    def _extend(self, seq: int) -> int:
        """The extended sequence nearest the newest one's: its 16-bit distance, signed, from it."""
        if self._highest is None:
            return seq
        return self._highest + ((seq - self._highest + 32768) & 0xFFFF) - 32768

    def push(self, packet: RtpPacket, now: float) -> None:
        self.counters.received += 1
        ext = self._extend(packet.sequence)
        if self._next is not None and ext < self._next:
            self.counters.late += 1
            return
        if ext in self._packets:
            self.counters.duplicates += 1
            return
        if len(self._packets) >= self.max_packets:
            self.counters.overflow += 1
            oldest = min(self._packets)
            del self._packets[oldest]
            if self._next is not None and self._next <= oldest:
                self._next = oldest + 1
        self._packets[ext] = packet
        self._highest = ext if self._highest is None else max(self._highest, ext)
        self._measure(packet.timestamp, now)

    def _measure(self, rtp_timestamp: int, now: float) -> None:
        transit = now * 1000 - rtp_timestamp * 1000 / self.clock_rate
        if self._transit is not None:
            d = abs(transit - self._transit)
            self.jitter_ms += (d - self.jitter_ms) / 16  # RFC 3550 A.8, in ms
        self._transit = transit
        wanted = 3 * self.jitter_ms + self.frame_ms
        # Grow fast, shrink slowly: a late frame is heard, a few ms of extra delay is not.
        if wanted > self.target_ms:
            self.target_ms = min(wanted, self.max_delay_ms)
        else:
            self.target_ms = max(self.min_delay_ms, self.target_ms - 0.01 * (self.target_ms - wanted))

    @property
    def buffered_ms(self) -> int:
        return len(self._packets) * self.frame_ms

    def pop(self, now: float) -> Frame | None:
        """The frame for this playout tick; None while (re)buffering up to the target delay."""
        if self._next is None:
            if not self._packets or self.buffered_ms < self.target_ms:
                return None
            self._next = min(self._packets)
            self._waited = 0
        if self._next in self._packets:
            self._waited = 0
            self._shrink_if_surplus()
            packet = self._packets.pop(self._next)
            frame = Frame(self._next, packet.payload, packet.timestamp)
            self._next += 1
            self.counters.played += 1
            return frame
        if self._packets and self.buffered_ms >= self.target_ms:
            return self._conceal(self._next)  # later audio is here in full: this packet is lost
        # Nothing (or too little) behind the gap: the packet is probably late. Play a filler without
        # consuming its place, which adds one frame of delay, and aim higher from now on.
        self._waited += 1
        self.counters.underruns += 1
        self.target_ms = min(self.target_ms + self.frame_ms, self.max_delay_ms)
        if self._waited * self.frame_ms >= self.max_delay_ms:
            if not self._packets:  # the stream paused: buffer anew when it returns
                self._next = None
                return None
            return self._conceal(self._next)
        self.counters.concealed += 1
        return Frame(self._next, None)

    def _conceal(self, sequence: int) -> Frame:
        frame = Frame(sequence, None)
        self._next = sequence + 1
        self._waited = 0
        self.counters.concealed += 1
        return frame

    def _shrink_if_surplus(self) -> None:
        """After a second with more buffered than needed, drop one frame to bring the delay down."""
        if self.buffered_ms > self.target_ms + 2 * self.frame_ms:
            self._surplus_ticks += 1
            if self._surplus_ticks >= 50 and self._next is not None and self._next + 1 in self._packets:
                del self._packets[self._next]
                self._next += 1
                self.counters.skipped += 1
                self._surplus_ticks = 0
        else:
            self._surplus_ticks = 0
