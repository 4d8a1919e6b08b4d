"""RTCP (RFC 3550 §6): sender and receiver reports with report blocks, SDES CNAME and BYE, compound.

`parse_compound` reads every packet of a compound datagram and raises RtpError on the first malformed
one; unknown packet types are skipped by their length, as the RFC asks.
"""

import struct
from dataclasses import dataclass, field

from voicegrid.media.errors import RtpError

SR, RR, SDES, BYE = 200, 201, 202, 203
_BLOCK = struct.Struct("!IBBHIIII")  # ssrc, fraction lost, cumulative lost (3 bytes), ...


@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # 8-bit fixed point: lost / expected * 256
    cumulative_lost: int
    highest_seq: int  # extended highest sequence number received
    jitter: int  # timestamp units
    last_sr: int = 0
    delay_since_last_sr: int = 0  # units of 1/65536 s

    def __bytes__(self) -> bytes:
        lost = max(-(1 << 23), min(self.cumulative_lost, (1 << 23) - 1)) & 0xFFFFFF
        return struct.pack(
            "!IBBHIIII",
            self.ssrc,
            self.fraction_lost & 0xFF,
            lost >> 16,
            lost & 0xFFFF,
            self.highest_seq & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.last_sr,
            self.delay_since_last_sr,
        )

    @classmethod
    def parse(cls, data: bytes, offset: int) -> "ReportBlock":
        ssrc, fraction, lost_hi, lost_lo, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = (lost_hi << 16) | lost_lo
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, fraction, lost, highest, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP time
    rtp_timestamp: int
    packets: int
    octets: int
    reports: list[ReportBlock] = field(default_factory=list)

    def __bytes__(self) -> bytes:
        body = struct.pack(
            "!IQIII",
            self.ssrc,
            self.ntp_timestamp,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packets,
            self.octets,
        )
        return _header(SR, len(self.reports), body + b"".join(bytes(r) for r in self.reports))


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)

    def __bytes__(self) -> bytes:
        return _header(
            RR, len(self.reports), struct.pack("!I", self.ssrc) + b"".join(bytes(r) for r in self.reports)
        )


@dataclass(slots=True)
class SourceDescription:
    ssrc: int
    cname: str

    def __bytes__(self) -> bytes:
        text = self.cname.encode()[:255]
        chunk = struct.pack("!IBB", self.ssrc, 1, len(text)) + text + b"\x00"
        chunk += bytes(-len(chunk) % 4)
        return _header(SDES, 1, chunk)


@dataclass(slots=True)
class Goodbye:
    ssrcs: list[int]

    def __bytes__(self) -> bytes:
        return _header(BYE, len(self.ssrcs), b"".join(struct.pack("!I", s) for s in self.ssrcs))


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye


def _header(packet_type: int, count: int, body: bytes) -> bytes:
    if count > 31:
        raise RtpError("at most 31 items in one RTCP packet")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


def parse_compound(data: bytes) -> list[RtcpPacket]:
    packets: list[RtcpPacket] = []
    offset = 0
    if len(data) < 8:
        raise RtpError("shorter than an RTCP packet")
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtpError("truncated RTCP header")
        b0, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if b0 >> 6 != 2:
            raise RtpError("RTCP version is not 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtpError("RTCP packet runs past the datagram")
        count = b0 & 0x1F
        body = offset + 4
        if packet_type == SR:
            if end - body < 24 + 24 * count:
                raise RtpError("sender report too short")
            ssrc, ntp, rtp_ts, packets_sent, octets = struct.unpack_from("!IQIII", data, body)
            blocks = [ReportBlock.parse(data, body + 24 + 24 * i) for i in range(count)]
            packets.append(SenderReport(ssrc, ntp, rtp_ts, packets_sent, octets, blocks))
        elif packet_type == RR:
            if end - body < 4 + 24 * count:
                raise RtpError("receiver report too short")
            (ssrc,) = struct.unpack_from("!I", data, body)
            packets.append(
                ReceiverReport(ssrc, [ReportBlock.parse(data, body + 4 + 24 * i) for i in range(count)])
            )
        elif packet_type == SDES and count and end - body >= 6:
            ssrc, item, length = struct.unpack_from("!IBB", data, body)
            if item == 1 and body + 6 + length <= end:
                packets.append(
                    SourceDescription(ssrc, data[body + 6 : body + 6 + length].decode("utf-8", "replace"))
                )
        elif packet_type == BYE:
            if end - body < 4 * count:
                raise RtpError("BYE too short")
            packets.append(Goodbye(list(struct.unpack_from(f"!{count}I", data, body))))
        offset = end
    return packets
