"""Silence suppression (`suppress_silence`, RFC 3551 section 4.1) on virtual time: no packets while
the agent is quiet but a keepalive each second, and a reply that starts at the next sub-slot as a
marked talkspurt on the stream's own timeline, while the caller's audio keeps its 20 ms cadence."""

import asyncio
import itertools
from collections.abc import Callable

import numpy as np
import pytest

from tests.support.rtp import PEER, TONE, TimedWire, running
from voicegrid.media.g711 import ulaw_encode
from voicegrid.media.jitter import JitterCounters
from voicegrid.media.recording import CallMix
from voicegrid.media.rtp import RtpPacket
from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.telephony.agents import EchoAgent, SilentAgent
from voicegrid.telephony.rtp_session import KEEPALIVE_S, RtpSession

SILENCE = bytes([0xFF]) * 160


class Listener(SilentAgent):
    """Says nothing; counts the frames of the caller it is given."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.heard = 0
        self.last_at = 0.0

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        self.heard += 1
        self.last_at = self.clock()


async def _caller_speaks(session: RtpSession, seconds: float) -> None:
    """The caller's side: a packet of the tone every 20 ms, on its own clock."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(round(seconds / 0.02)):
        payload = ulaw_encode(TONE[(i % 100) * 160 : (i % 100 + 1) * 160])
        session.receive(bytes(RtpPacket(0, 300 + i, i * 160, 0xCD, payload)), PEER, loop.time())
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))


def _packets(wire: TimedWire) -> list[RtpPacket]:
    return [RtpPacket.parse(data) for data, _ in wire.sent]


@pytest.mark.virtual_time
async def test_a_quiet_agent_sends_one_keepalive_a_second_instead_of_fifty_packets() -> None:
    session, wire, clock = await running(SilentAgent(), suppress_silence=True)
    try:
        await asyncio.sleep(5.01)
    finally:
        session.close()
        await clock.stop()
    packets = _packets(wire)
    assert len(packets) == 6  # the first tick's, then one a second
    assert [round(b - a, 6) for a, b in itertools.pairwise(wire.at)] == [KEEPALIVE_S] * 5
    assert all(p.payload == SILENCE for p in packets)
    assert [p.marker for p in packets] == [False] + [True] * 5  # each keepalive is a talkspurt
    # the timestamps count the time between them: the stream's timeline is the wall clock's
    assert [p.timestamp - packets[0].timestamp for p in packets] == [8000 * i for i in range(6)]
    assert [p.sequence - packets[0].sequence for p in packets] == list(range(6))
    assert session.counters.silence_suppressed == 250 - 6 + 1


@pytest.mark.virtual_time
async def test_a_reply_after_suppressed_silence_leaves_at_the_next_sub_slot_as_a_marked_talkspurt() -> None:
    agent = Listener(asyncio.get_running_loop().time)
    session, wire, clock = await running(agent, suppress_silence=True)
    try:
        await asyncio.sleep(0.2)
        # just after the stream's own turn, so its next turn is more than 15 ms away
        await asyncio.sleep(agent.last_at + 0.002 - clock.now())
        queued_at = clock.now()
        session.queue(TONE[:1600])  # 200 ms of a reply
        await asyncio.sleep(0.3)
    finally:
        session.close()
        await clock.stop()
    packets = _packets(wire)
    first = next(i for i, p in enumerate(packets) if p.payload != SILENCE)
    reply, at = packets[first : first + 10], wire.at[first : first + 10]
    assert 0 < at[0] - queued_at <= clock.schedule.slot_s + 1e-9  # not up to a period later
    assert clock.hurried == 1
    assert [p.marker for p in reply] == [True] + [False] * 9
    # its timestamp counts the quiet since the last packet, on the same 8 kHz clock as the wall's
    quiet = round((at[0] - wire.at[first - 1]) * 8000)
    assert reply[0].timestamp - packets[first - 1].timestamp == quiet
    assert [p.timestamp - reply[0].timestamp for p in reply] == [160 * i for i in range(10)]
    assert [b - a for a, b in itertools.pairwise(at)] == pytest.approx([0.02] * 9)
    assert len(packets) == first + 10  # and after the reply, quiet again: nothing more sent


async def _hear_with_replies(suppress: bool) -> tuple[int, JitterCounters, int, int]:
    """The caller talks for 8 s while twenty replies start; what the agent heard, and how."""
    agent = Listener(asyncio.get_running_loop().time)
    session, _, clock = await running(agent, suppress_silence=suppress, mix=CallMix(8000))
    try:
        caller = asyncio.get_running_loop().create_task(_caller_speaks(session, 8.0))
        for i in range(20):  # with suppression, each is moved to an earlier sub-slot
            await asyncio.sleep(0.2 + 0.0013 * i)  # after its 100 ms, at another phase each time
            session.queue(TONE[:800])
        await caller
        await asyncio.sleep(0.5)
    finally:
        session.close()
        await clock.stop()
    assert session.mix is not None
    return agent.heard, session.jitter.counters, session.mix.frames, clock.hurried


@pytest.mark.virtual_time
async def test_the_callers_audio_plays_on_its_own_20_ms_cadence_through_hurried_replies() -> None:
    steady = await _hear_with_replies(suppress=False)
    hurried = await _hear_with_replies(suppress=True)
    assert steady[3] == 0
    assert hurried[3] >= 10
    # as many frames heard (the last may be due in the tick after the call ended), none concealed:
    # an extra pop per reply would run the jitter buffer dry, a missed one would fill it up
    assert abs(hurried[0] - steady[0]) <= 1
    steady_jitter, hurried_jitter = steady[1], hurried[1]
    assert hurried_jitter.concealed == steady_jitter.concealed
    assert hurried_jitter.skipped - steady_jitter.skipped in (0, 1)  # one catch-up, not one per reply
    assert hurried[2] == hurried[0]  # one mixed frame of the recording per frame heard


@pytest.mark.virtual_time
async def test_an_echo_within_its_own_tick_is_not_hurried_and_stays_one_contiguous_talkspurt() -> None:
    session, wire, clock = await running(EchoAgent(), suppress_silence=True)
    try:
        await asyncio.sleep(0.1)
        await _caller_speaks(session, 0.6)
        await asyncio.sleep(0.3)
    finally:
        session.close()
        await clock.stop()
    packets = _packets(wire)
    echo = [i for i, p in enumerate(packets) if p.payload != SILENCE]
    assert echo == list(range(echo[0], echo[0] + 30))  # 30 frames, one after the other
    assert clock.hurried == 0
    assert [packets[i].marker for i in echo] == [True] + [False] * 29
    assert np.all(np.diff([packets[i].timestamp for i in echo]) == 160)
    assert [b - a for a, b in itertools.pairwise(wire.at[echo[0] : echo[-1] + 1])] == pytest.approx(
        [0.02] * 29
    )


@pytest.mark.virtual_time
async def test_the_sender_report_s_rtp_time_runs_on_through_suppressed_silence() -> None:
    session, _, clock = await running(SilentAgent(), suppress_silence=True)
    try:
        await asyncio.sleep(0.101)
        early = session.rtp_timestamp
        await asyncio.sleep(0.5)
        late = session.rtp_timestamp
    finally:
        session.close()
        await clock.stop()
    assert late - early == pytest.approx(4000, abs=40)  # 500 ms at 8 kHz, to a sub-slot


@pytest.mark.virtual_time
async def test_without_suppression_a_quiet_agent_still_sends_comfort_silence_every_20_ms() -> None:
    session, wire, clock = await running(SilentAgent())
    try:
        await asyncio.sleep(1.0)
    finally:
        session.close()
        await clock.stop()
    assert len(wire.sent) in (50, 51)
    assert not any(p.marker for p in _packets(wire))
    assert session.counters.silence_suppressed == 0
