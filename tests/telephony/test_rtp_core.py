"""The RTP session's core on virtual time: packets are fed with the time they arrive and the clock's
ticks are called by the test, so seconds of a call pass in microseconds and nothing sleeps."""

import asyncio
import itertools

import numpy as np
import pytest

from tests.support.rtp import PEER, TONE, Wire, running
from voicegrid.media.codecs import make_codec
from voicegrid.media.dtmf import DtmfReceiver, event_packets
from voicegrid.media.g711 import ulaw_decode, ulaw_encode
from voicegrid.media.rtp import RtpPacket
from voicegrid.telephony.agents import EchoAgent, SilentAgent
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.rtp_session import RtpSession


class Time:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _session(time: Time, **kwargs) -> tuple[RtpSession, Wire, Wire]:  # type: ignore[no-untyped-def]
    rtp, rtcp = Wire(), Wire()
    session = RtpSession(
        codec=make_codec("PCMU"), remote=PEER, agent=EchoAgent(), clock=MediaClock(clock=time), **kwargs
    )
    session.attach(rtp, rtcp)
    return session, rtp, rtcp


def _tick(session: RtpSession, time: Time, seconds: float) -> None:
    for _ in range(round(seconds / 0.02)):
        time.now += 0.02
        session.on_tick(time.now, time.now)


def test_the_echo_agent_sends_back_what_it_hears_a_jitter_buffer_later() -> None:
    time = Time()
    session, rtp, _ = _session(time)
    for i in range(len(TONE) // 160):
        payload = ulaw_encode(TONE[i * 160 : (i + 1) * 160])
        session.receive(bytes(RtpPacket(0, 7 + i, i * 160, 0xAB, payload)), PEER, time.now)
        _tick(session, time, 0.02)
    _tick(session, time, 0.5)
    heard = np.concatenate([ulaw_decode(RtpPacket.parse(data).payload) for data, _ in rtp.sent])
    start = np.flatnonzero(np.abs(heard) > 1000)[0] // 160 * 160  # the first frame with the tone
    delay = start / 8000  # the jitter buffer's hold, on the session's own (virtual) clock
    echoed = heard[start : start + len(TONE)].astype(np.float64)
    assert 0.0 < delay < 0.2
    assert np.corrcoef(echoed, TONE.astype(np.float64))[0, 1] > 0.99
    assert {addr for _, addr in rtp.sent} == {PEER}
    assert session.counters.received == 100


def test_a_call_that_stops_sending_rtp_is_hung_up_at_the_timeout_not_before() -> None:
    time = Time()
    reasons: list[str] = []
    session, rtp, _ = _session(time, on_hangup=reasons.append, no_rtp_timeout_s=30.0)
    _tick(session, time, 29.9)
    assert reasons == []
    assert len(rtp.sent) == 1495  # comfort silence all along, a packet per tick
    _tick(session, time, 0.2)
    assert reasons == ["no-rtp"]


def test_a_packet_from_a_stranger_neither_plays_nor_keeps_the_call_alive() -> None:
    time = Time()
    reasons: list[str] = []
    session, _, _ = _session(time, on_hangup=reasons.append, no_rtp_timeout_s=5.0)
    session.receive(bytes(RtpPacket(0, 1, 0, 0x1, ulaw_encode(TONE[:160]))), PEER, time.now)  # latched
    for _ in range(300):  # 6 s of packets from elsewhere
        time.now += 0.02
        session.receive(bytes(RtpPacket(0, 1, 0, 0x2, b"\xff" * 160)), ("198.51.100.7", 5004), time.now)
        session.on_tick(time.now, time.now)
    assert session.counters.wrong_source == 300
    assert reasons == ["no-rtp"]


def test_rtcp_reports_go_out_on_the_sessions_clock() -> None:
    time = Time()
    session, _, rtcp = _session(time)
    _tick(session, time, 12.0)
    assert 2 <= len(rtcp.sent) <= 3  # one every five seconds
    assert {addr for _, addr in rtcp.sent} == {(PEER[0], PEER[1] + 1)}


@pytest.mark.virtual_time
async def test_a_reply_after_silence_keeps_the_streams_20_ms_timeline_that_the_far_end_plays_by() -> None:
    # comfort silence has filled the timeline up to the stream's next turn: an earlier packet would
    # only wait in the far end's jitter buffer, so RTP is not hurried the way media streams are
    session, wire, clock = await running(SilentAgent())
    try:
        await asyncio.sleep(0.2)
        await asyncio.sleep(max(0.0, wire.at[-1] + 0.002 - clock.now()))
        last = wire.at[-1]
        assert clock.now() - last < 0.005  # its own next turn is more than 15 ms away
        session.queue(TONE[:1600])  # 200 ms of a reply
        await asyncio.sleep(0.3)
    finally:
        session.close()
        await clock.stop()
    packets = [RtpPacket.parse(data) for data, _ in wire.sent]
    first = next(i for i, p in enumerate(packets) if p.payload != bytes([0xFF]) * 160)
    assert wire.at[first] == pytest.approx(last + 0.02)
    gaps = [b - a for a, b in itertools.pairwise(wire.at)]
    assert gaps == pytest.approx([0.02] * len(gaps))
    assert [p.timestamp - packets[0].timestamp for p in packets] == [160 * i for i in range(len(packets))]
    assert clock.hurried == 0


def test_each_digit_sent_is_one_event_with_one_timestamp_and_a_marker_on_its_first_packet() -> None:
    time = Time()
    session, rtp, _ = _session(time)
    _tick(session, time, 0.1)
    session.send_dtmf("1155#")
    _tick(session, time, 2.0)
    packets = [RtpPacket.parse(data) for data, _ in rtp.sent]
    events = [p for p in packets if p.payload_type == 101]
    per_digit = len(event_packets("1"))
    assert len(events) == 5 * per_digit
    for n in range(5):  # one timestamp per event, its first packet marked, the next event's later
        event = events[n * per_digit : (n + 1) * per_digit]
        assert {p.timestamp for p in event} == {event[0].timestamp}
        assert [p.marker for p in event] == [True] + [False] * (per_digit - 1)
    # a receiver that tells events apart by their timestamp (RFC 4733 section 2.5.1) hears each once
    receiver = DtmfReceiver()
    heard = [receiver.receive(p.timestamp, p.payload) for p in events]
    assert [d.digit for d in heard if d is not None] == list("1155#")
    # the audio after them goes on on the stream's own timeline, as if each packet had been audio
    assert packets[-1].payload_type == 0
    assert packets[-1].timestamp - packets[0].timestamp == 160 * (len(packets) - 1)
