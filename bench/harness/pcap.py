"""RTP send lateness from a pcap capture (tcpdump -w) of the platform's outbound packets.

For each stream (source port, destination port, SSRC) a packet's offset is its capture time minus
its RTP timestamp in seconds; the stream's smallest offset is the packet that left on time, and a
packet's lateness is how far its offset is above that. Classic pcap only (what tcpdump writes), on
Ethernet (Linux `lo`) or Linux cooked captures; the reader is bounded by packet count and length.
"""

import statistics
import struct
from collections.abc import Iterator
from dataclasses import dataclass

MAX_SNAPLEN = 262_144
RTP_CLOCK = {0: 8000, 8: 8000, 9: 8000, 18: 8000}  # PCMU, PCMA, G.722 (8 kHz clock by RFC 3551), G.729
LINK_ETHERNET, LINK_SLL, LINK_SLL2 = 1, 113, 276


class PcapError(ValueError):
    """The capture is not a classic pcap file this reader understands, or is cut short."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    at: float  # capture time, seconds since the epoch
    src_port: int
    dst_port: int
    ssrc: int
    seq: int
    timestamp: int
    payload_type: int


def read_rtp(data: bytes, max_packets: int = 5_000_000) -> Iterator[RtpPacket]:
    """The RTP packets (version 2, audio payload types) over UDP/IPv4 in a capture; RTCP is skipped."""
    if len(data) < 24:
        raise PcapError("shorter than a pcap header")
    magic = data[:4]
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
        b"\xa1\xb2\xc3\xd4": (">", 1e-6),
        b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
        b"\xa1\xb2\x3c\x4d": (">", 1e-9),
    }
    if magic not in formats:
        raise PcapError("not a classic pcap file (pcapng is not read here)")
    order, unit = formats[magic]
    link = struct.unpack(order + "I", data[20:24])[0] & 0x0FFFFFFF
    link_header = {LINK_ETHERNET: 14, LINK_SLL: 16, LINK_SLL2: 20}.get(link)
    if link_header is None:
        raise PcapError(f"link type {link} is not Ethernet or Linux cooked")
    offset, count = 24, 0
    while offset + 16 <= len(data):
        seconds, fraction, captured, _original = struct.unpack(order + "IIII", data[offset : offset + 16])
        offset += 16
        if captured > MAX_SNAPLEN or offset + captured > len(data):
            raise PcapError(f"a record of {captured} bytes runs past the file's end at byte {offset}")
        frame = data[offset : offset + captured]
        offset += captured
        count += 1
        if count > max_packets:
            raise PcapError(f"more than {max_packets} packets")
        packet = _rtp(frame[link_header:], seconds + fraction * unit)
        if packet is not None:
            yield packet


def _rtp(ip: bytes, at: float) -> RtpPacket | None:
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:  # IPv4 carrying UDP
        return None
    header = (ip[0] & 0x0F) * 4
    udp = ip[header:]
    if len(udp) < 8 + 12:
        return None
    src, dst = struct.unpack("!HH", udp[:4])
    rtp = udp[8:]
    payload_type = rtp[1] & 0x7F
    if rtp[0] >> 6 != 2 or payload_type not in RTP_CLOCK:
        return None
    seq, timestamp, ssrc = struct.unpack("!HII", rtp[2:12])
    return RtpPacket(at, src, dst, ssrc, seq, timestamp, payload_type)


def _offsets(packets: list[RtpPacket], start: float, end: float) -> list[list[tuple[float, float]]]:
    """Per stream, each packet's (capture time, capture time less its RTP time since the first)."""
    streams: dict[tuple[int, int, int], list[RtpPacket]] = {}
    for packet in packets:
        if start <= packet.at <= end:
            streams.setdefault((packet.src_port, packet.dst_port, packet.ssrc), []).append(packet)
    out = []
    for stream in streams.values():
        stream.sort(key=lambda p: p.at)
        unwrapped, previous = 0, stream[0].timestamp
        offsets = []
        for packet in stream:
            step = (packet.timestamp - previous) & 0xFFFFFFFF
            unwrapped += step if step < 0x80000000 else step - 0x100000000
            previous = packet.timestamp
            offsets.append((packet.at, packet.at - unwrapped / RTP_CLOCK[packet.payload_type]))
        out.append(offsets)
    return out


def lateness_ms(packets: list[RtpPacket], start: float = 0.0, end: float = float("inf")) -> list[float]:
    """Each packet's lateness (ms) within its stream, for packets captured between start and end."""
    late: list[float] = []
    for offsets in _offsets(packets, start, end):
        best = min(offset for _, offset in offsets)
        late.extend((offset - best) * 1000 for _, offset in offsets)
    return late


def clock_skew_ms_per_s(
    packets: list[RtpPacket], start: float = 0.0, end: float = float("inf")
) -> float | None:
    """How fast the streams' offsets grow, in ms per second, the median over streams of 5 s or more:
    about 0 when the capture's clock and the senders' run at one rate. Lateness is measured against
    each stream's earliest packet, so a skew adds to it, growing through the window; this says so."""
    slopes = []
    for offsets in _offsets(packets, start, end):
        times, lags = [at for at, _ in offsets], [offset for _, offset in offsets]
        if len(offsets) >= 3 and times[-1] - times[0] >= 5.0:
            slopes.append(statistics.linear_regression(times, lags).slope)
    return round(statistics.median(slopes) * 1000, 3) if slopes else None
