"""RTP packets (RFC 3550 §5.1) and the receiver's sequence, loss and jitter bookkeeping (Appendix A).

Packets are small dataclasses with `parse()` and `bytes()`; parsing is bounded by the datagram and
raises RtpError for anything malformed, so the caller can drop and count it.
"""

import struct
from dataclasses import dataclass

from voicegrid.media.errors import RtpError

_HEADER = struct.Struct("!BBHII")
RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


def header(payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool = False) -> bytes:
    """The 12-byte header of a packet with no CSRC, extension or padding (what a call sends)."""
    b1 = (0x80 if marker else 0) | (payload_type & 0x7F)
    return _HEADER.pack(0x80, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)


@dataclass(slots=True, init=False)  # __init__ written out: compiled, dataclass's own is interpreted
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool
    csrc: tuple[int, ...]  # immutable: no list made for each packet
    extension: tuple[int, bytes] | None  # (profile, data) of a header extension
    padding: int  # padding bytes that came after the payload

    def __init__(
        self,
        payload_type: int,
        sequence: int,
        timestamp: int,
        ssrc: int,
        payload: bytes = b"",
        marker: bool = False,
        csrc: tuple[int, ...] = (),
        extension: tuple[int, bytes] | None = None,
        padding: int = 0,
    ) -> None:
        self.payload_type = payload_type
        self.sequence = sequence
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.csrc = csrc
        self.extension = extension
        self.padding = padding

    @classmethod
    def parse(cls, data: bytes) -> "RtpPacket":
        if len(data) < 12:
            raise RtpError("shorter than an RTP header")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 == 0x80:  # the usual packet (no CSRC, extension or padding): its payload follows the header
            return cls(b1 & 0x7F, seq, ts, ssrc, bytes(data[12:]), bool(b1 & 0x80))
        if b0 >> 6 != 2:
            raise RtpError(f"RTP version {b0 >> 6}, not 2")
        cc = b0 & 0x0F
        offset = 12 + 4 * cc
        if len(data) < offset:
            raise RtpError("CSRC list runs past the packet")
        csrc = struct.unpack_from(f"!{cc}I", data, 12) if cc else ()
        extension = None
        if b0 & 0x10:
            if len(data) < offset + 4:
                raise RtpError("extension header runs past the packet")
            profile, words = struct.unpack_from("!HH", data, offset)
            end = offset + 4 + 4 * words
            if len(data) < end:
                raise RtpError("extension runs past the packet")
            extension = (profile, bytes(data[offset + 4 : end]))
            offset = end
        end = len(data)
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > end:
                raise RtpError("bad padding count")
            end -= padding
        return cls(
            payload_type=b1 & 0x7F,
            sequence=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(b1 & 0x80),
            csrc=csrc,
            extension=extension,
            padding=padding,
        )

    def __bytes__(self) -> bytes:
        if self.csrc == () and self.extension is None and not self.padding:  # the usual packet
            return (
                header(self.payload_type, self.sequence, self.timestamp, self.ssrc, self.marker)
                + self.payload
            )
        if len(self.csrc) > 15:
            raise RtpError("at most 15 CSRCs")
        b0 = 0x80 | len(self.csrc) | (0x10 if self.extension else 0) | (0x20 if self.padding else 0)
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        out = bytearray(_HEADER.pack(b0, b1, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc))
        for c in self.csrc:
            out += struct.pack("!I", c)
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise RtpError("extension data must be a whole number of 32-bit words")
            out += struct.pack("!HH", profile, len(data) // 4) + data
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes([self.padding])
        return bytes(out)


@dataclass(slots=True)
class ReceiverStats:
    """One source's sequence tracking, loss and interarrival jitter, as RFC 3550 Appendix A.1, A.3, A.8."""

    clock_rate: int
    max_seq: int = 0
    cycles: int = 0
    base_seq: int = 0
    bad_seq: int = RTP_SEQ_MOD + 1
    probation: int = MIN_SEQUENTIAL
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    jitter: float = 0.0  # in timestamp units
    _transit: int | None = None
    started: bool = False

    def _init(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, seq: int, rtp_timestamp: int, arrival_s: float) -> bool:
        """Account for one packet; False when it is not (yet) a valid member of the stream."""
        if not self.started:
            self._init(seq)
            self.max_seq = seq - 1
            self.probation = MIN_SEQUENTIAL
            self.started = True
        udelta = (seq - self.max_seq) % RTP_SEQ_MOD
        if self.probation:
            if seq == (self.max_seq + 1) % RTP_SEQ_MOD:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init(seq)
                    self.received += 1
                    self._jitter(rtp_timestamp, arrival_s)
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:  # two in a row after a jump: the source restarted
                self._init(seq)
            else:
                self.bad_seq = (seq + 1) % RTP_SEQ_MOD
                return False
        self.received += 1
        self._jitter(rtp_timestamp, arrival_s)
        return True

    def _jitter(self, rtp_timestamp: int, arrival_s: float) -> None:
        transit = int(arrival_s * self.clock_rate) - rtp_timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            self.jitter += (d - self.jitter) / 16
        self._transit = transit

    @property
    def expected(self) -> int:
        return self.cycles + self.max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    def fraction_lost_since_last(self) -> int:
        """The 8-bit fraction of packets lost since the previous report (RFC 3550 A.3), and reset."""
        expected_interval = self.expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = self.expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval

    @property
    def jitter_ms(self) -> float:
        return self.jitter * 1000 / self.clock_rate
