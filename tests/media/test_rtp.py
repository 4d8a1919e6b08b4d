"""RTP and RTCP packets round-trip, malformed ones are refused, and receiver statistics follow RFC 3550."""

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicegrid.media.errors import RtpError
from voicegrid.media.rtcp import (
    Goodbye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    parse_compound,
)
from voicegrid.media.rtp import ReceiverStats, RtpPacket


def test_a_packet_with_csrcs_extension_marker_and_padding_round_trips() -> None:
    packet = RtpPacket(
        0, 65535, 4294967295, 0xDEADBEEF, b"\xff" * 160, True, (1, 2), (0xBEDE, b"\x10\x01\x00\x00"), 4
    )
    data = bytes(packet)
    assert len(data) == 12 + 8 + 8 + 160 + 4
    assert RtpPacket.parse(data) == packet


def test_a_plain_pcmu_packet_has_the_expected_header_bytes() -> None:
    data = bytes(RtpPacket(0, 1, 160, 0x01020304, b"\x00" * 160))
    assert data[:12] == bytes.fromhex("80000001000000a001020304")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80" * 11,
        bytes.fromhex("40000001000000a001020304"),  # version 1
        bytes.fromhex("8f000001000000a001020304"),  # 15 CSRCs announced, none present
        bytes.fromhex("90000001000000a001020304bede0009"),  # extension longer than the packet
        bytes.fromhex("a0000001000000a001020304") + b"\x00\x00\x00\x09",  # padding longer than the packet
        bytes.fromhex("a0000001000000a00102030400"),  # padding count 0
    ],
)
def test_malformed_rtp_is_refused(data: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.parse(data)


@given(st.binary(max_size=300))
def test_random_datagrams_raise_nothing_but_rtp_error(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        RtpPacket.parse(data)
    with contextlib.suppress(RtpError):
        parse_compound(data)


def test_a_compound_rtcp_packet_round_trips() -> None:
    block = ReportBlock(0x1111, 25, -3, 70000, 12, 0xABCD, 65536)
    sr = SenderReport(0x2222, 0x83AA7E80_00000000, 160000, 500, 80000, [block])
    rr = ReceiverReport(0x3333, [block])
    sdes = SourceDescription(0x2222, "voicegrid@127.0.0.1")
    bye = Goodbye([0x2222])
    data = bytes(sr) + bytes(rr) + bytes(sdes) + bytes(bye)
    assert parse_compound(data) == [sr, rr, sdes, bye]


def test_rtcp_running_past_the_datagram_is_refused() -> None:
    data = bytes(SenderReport(1, 2, 3, 4, 5))
    with pytest.raises(RtpError):
        parse_compound(data[:-4])


def _feed(stats: ReceiverStats, seqs: list[int]) -> None:
    for i, seq in enumerate(seqs):
        stats.update(seq % 65536, seq * 160, i * 0.02)


def test_loss_counts_missing_sequence_numbers_across_a_wrap() -> None:
    stats = ReceiverStats(8000)
    seqs = [65530 + i for i in range(20) if i not in (7, 8, 15)]
    _feed(stats, seqs)
    # RFC 3550 A.1: the first packet is on probation and not counted; the second validates the source.
    assert stats.expected == 19
    assert stats.received == 16
    assert stats.lost == 3
    assert stats.cycles == 65536
    assert stats.fraction_lost_since_last() == (3 << 8) // 19


def test_duplicates_and_reordering_do_not_count_as_loss() -> None:
    stats = ReceiverStats(8000)
    _feed(stats, [100, 101, 103, 102, 104, 104, 105])
    assert stats.lost == 0


def test_jitter_is_zero_for_perfectly_paced_packets_and_grows_with_random_delay() -> None:
    steady = ReceiverStats(8000)
    for i in range(200):
        steady.update(i, i * 160, i * 0.02)
    assert steady.jitter_ms == pytest.approx(0.0, abs=0.2)
    rng = random.Random(7)
    noisy = ReceiverStats(8000)
    for i in range(2000):
        noisy.update(i, i * 160, i * 0.02 + rng.uniform(0, 0.01))
    # Uniform 0-10 ms delay: mean |D| is 10/3 ms, which the RFC's estimator approaches.
    assert 2.5 < noisy.jitter_ms < 4.2


def test_a_plain_packet_parses_the_same_through_the_short_path_as_a_general_one() -> None:
    payload = bytes(range(160))
    plain = RtpPacket.parse(bytes(RtpPacket(8, 7, 1280, 0xCAFE, payload, True)))
    assert plain == RtpPacket(8, 7, 1280, 0xCAFE, payload, True)
    assert bytes(plain)[:2] == b"\x80\x88"
    # with one CSRC the general path reads the same fields and keeps the CSRC
    general = RtpPacket.parse(bytes(RtpPacket(8, 7, 1280, 0xCAFE, payload, True, (5,))))
    assert (general.payload_type, general.sequence, general.timestamp, general.payload, general.marker) == (
        8, 7, 1280, payload, True,
    )  # fmt: skip
    assert general.csrc == (5,)
