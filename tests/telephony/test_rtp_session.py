"""An RTP session over real UDP sockets on loopback, with a Python peer and the echo agent."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voicegrid.media.codecs import make_codec
from voicegrid.media.dtmf import event_packets
from voicegrid.media.g711 import ulaw_decode, ulaw_encode
from voicegrid.media.rtp import RtpPacket
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.rtp_session import RtpSession
from voicegrid.testing.ports import free_port_block, free_udp_and_tcp_port


class Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append(RtpPacket.parse(data))


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    media_clock = MediaClock()
    media_clock.start()
    yield media_clock
    await media_clock.stop()


async def _pair(clock: MediaClock, **kwargs) -> tuple[RtpSession, Peer, tuple[str, int]]:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    peer_port, our_port = free_udp_and_tcp_port(), free_udp_and_tcp_port()
    _, peer = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", peer_port))
    session = RtpSession(
        codec=make_codec("PCMU"), remote=("127.0.0.1", peer_port), agent=EchoAgent(), clock=clock, **kwargs
    )
    await session.open("127.0.0.1", our_port)
    return session, peer, ("127.0.0.1", our_port)


TONE = (8000 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)).astype(np.int16)  # 1 s, 1 kHz


async def _every_20_ms(count: int) -> AsyncIterator[int]:
    """Packet times on the sender's own clock, as a phone sends: a late wake-up does not shift the rest
    (sleeping 20 ms after each packet drifts behind real time on a busy machine, and the receiver's
    jitter buffer then runs dry, which is not what these tests are about)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        yield i
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))


async def _send_tone(peer: Peer, dest: tuple[str, int]) -> None:
    assert peer.transport is not None
    async for i in _every_20_ms(50):
        payload = ulaw_encode(TONE[i * 160 : (i + 1) * 160])
        peer.transport.sendto(bytes(RtpPacket(0, 100 + i, i * 160, 0xAB, payload)), dest)


async def test_the_echo_agent_returns_the_callers_audio_with_a_bounded_delay(clock: MediaClock) -> None:
    session, peer, dest = await _pair(clock)
    try:
        await _send_tone(peer, dest)
        await asyncio.sleep(0.4)
    finally:
        session.close()
    audio_packets = [p for p in peer.packets if p.payload_type == 0]
    assert session.counters.received == 50
    assert session.stats.lost == 0
    # The echo comes back frame for frame: the first packet that is not digital silence is frame 0.
    first = next(i for i, p in enumerate(audio_packets) if p.payload != b"\xff" * 160)
    heard = np.concatenate([ulaw_decode(p.payload) for p in audio_packets[first : first + 50]])
    assert len(heard) == len(TONE)
    assert np.corrcoef(heard.astype(np.float64), TONE.astype(np.float64))[0, 1] > 0.99  # the same tone
    delay_ms = (audio_packets[first].timestamp - audio_packets[0].timestamp) / 8  # RTP time to the echo
    assert delay_ms < 300
    assert [p.sequence for p in peer.packets] == [
        (peer.packets[0].sequence + i) % 65536 for i in range(len(peer.packets))
    ]


async def test_packets_from_another_source_are_ignored_and_malformed_ones_counted(clock: MediaClock) -> None:
    session, peer, dest = await _pair(clock)
    loop = asyncio.get_running_loop()
    intruder_transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.2", 0)
    )
    try:
        intruder_transport.sendto(bytes(RtpPacket(0, 1, 160, 0xBAD, b"\x00" * 160)), dest)
        assert peer.transport is not None
        peer.transport.sendto(b"\x00\x01garbage", dest)
        await asyncio.sleep(0.1)
    finally:
        intruder_transport.close()
        session.close()
    assert session.counters.wrong_source == 1
    assert session.counters.malformed == 1
    assert session.counters.received == 0


async def test_dtmf_digits_arrive_as_events_and_the_echo_sends_them_back(clock: MediaClock) -> None:
    heard: list[str] = []

    class Digits(EchoAgent):
        def on_dtmf(self, session, digit):  # type: ignore[no-untyped-def]
            heard.append(digit)
            super().on_dtmf(session, digit)

    session, peer, dest = await _pair(clock)
    session.agent = Digits()
    try:
        assert peer.transport is not None
        for n, digit in enumerate("123"):
            for seq, payload in enumerate(event_packets(digit)):
                peer.transport.sendto(bytes(RtpPacket(101, 10 * n + seq, 8000 * n, 0xAB, payload)), dest)
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.5)
    finally:
        session.close()
    assert heard == ["1", "2", "3"]
    events = [p for p in peer.packets if p.payload_type == 101]
    assert len(events) == 3 * len(event_packets("1"))


async def test_a_call_without_rtp_hangs_up_after_the_timeout(clock: MediaClock) -> None:
    ended = asyncio.Event()
    reasons: list[str] = []

    def on_hangup(reason: str) -> None:
        reasons.append(reason)
        ended.set()

    session, _, _ = await _pair(clock, on_hangup=on_hangup, no_rtp_timeout_s=0.2)
    try:
        async with asyncio.timeout(5):
            await ended.wait()
    finally:
        session.close()
    assert reasons == ["no-rtp"]
    assert session.counters.silence_sent > 0  # it kept sending comfort silence meanwhile


async def test_packets_the_kernel_refuses_are_counted_lost_and_the_clock_keeps_ticking_the_call(
    clock: MediaClock,
) -> None:
    # Broadcast without SO_BROADCAST: sendto fails with EACCES on every packet (as with no route).
    session = RtpSession(
        codec=make_codec("PCMU"), remote=("255.255.255.255", 9), agent=EchoAgent(), clock=clock
    )
    await session.open("127.0.0.1", free_udp_and_tcp_port())
    try:
        await asyncio.sleep(0.2)
        failed_then = session.counters.send_failed
        await asyncio.sleep(0.2)
    finally:
        session.close()
    assert failed_then > 0
    assert session.counters.send_failed > failed_then  # still ticked: the failure did not remove it
    assert session.counters.sent == 0
    assert session.octets_sent == 0


async def test_two_sessions_exchange_rtcp_reports_about_each_others_streams(
    clock: MediaClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicegrid.telephony import rtp_session

    monkeypatch.setattr(rtp_session, "RTCP_INTERVAL_S", 0.2)
    base = free_port_block(4)  # two RTP/RTCP pairs
    port_a, port_b = base, base + 2
    a = RtpSession(codec=make_codec("PCMU"), remote=("127.0.0.1", port_b), agent=EchoAgent(), clock=clock)
    b = RtpSession(codec=make_codec("PCMU"), remote=("127.0.0.1", port_a), agent=EchoAgent(), clock=clock)
    await a.open("127.0.0.1", port_a)
    await b.open("127.0.0.1", port_b)
    try:
        a.queue(TONE)
        await asyncio.sleep(1.2)
    finally:
        a.close()
        b.close()
    for session in (a, b):
        assert session.rtcp.reports_sent >= 3
        assert session.rtcp.reports_received >= 2
        assert session.rtcp.malformed == 0
        assert session.rtcp.blocks_about_us >= 2  # the peer reported on our own stream
        assert session.rtcp.remote_cumulative_lost == 0
        assert session.rtcp.remote_fraction_lost == 0.0
    assert b.stats.received > 40


async def test_the_play_agent_sends_a_1_khz_beep_then_quiet(clock: MediaClock) -> None:
    from voicegrid.telephony.agents import PlayAgent

    session, peer, dest = await _pair(clock)
    session.agent = PlayAgent()
    session.agent.on_start(session)
    try:
        assert peer.transport is not None
        async for i in _every_20_ms(100):  # two seconds of the caller's silence: it paces the refills
            peer.transport.sendto(bytes(RtpPacket(0, i, i * 160, 0xAB, b"\xff" * 160)), dest)
    finally:
        session.close()
    audio = np.concatenate([ulaw_decode(p.payload) for p in peer.packets if p.payload_type == 0])
    first = next(i for i in range(0, len(audio), 160) if np.abs(audio[i : i + 160]).max() > 1000)
    beep = audio[first : first + 8000].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(beep))
    assert np.argmax(spectrum) * 8000 / len(beep) == pytest.approx(1000, abs=5)  # the beep is 1 kHz
    assert np.abs(audio[first + 8200 : first + 15800]).max() < 100  # then a second of quiet


class Listener(EchoAgent):
    """Keeps what the session hands the talker, frame by frame."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[tuple[int, bool]] = []  # (loudest sample, concealed)

    def on_audio(self, session, frame) -> None:  # type: ignore[no-untyped-def]
        self.frames.append((int(np.abs(frame.pcm).max()), frame.concealed))


async def test_a_far_end_that_sends_no_audio_is_heard_as_quiet_on_time_not_as_nothing(
    clock: MediaClock,
) -> None:
    """Silence suppression, or a phone that waits to speak: the talker (an answering-machine check
    counting the quiet after an answer) still gets a frame every 20 ms."""
    loop = asyncio.get_running_loop()
    peer_port = free_udp_and_tcp_port()
    silent_peer, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", peer_port))
    listener = Listener()
    session = RtpSession(
        codec=make_codec("PCMU"), remote=("127.0.0.1", peer_port), agent=listener, clock=clock
    )
    await session.open("127.0.0.1", free_udp_and_tcp_port())
    try:
        await asyncio.sleep(1.0)
    finally:
        session.close()
        silent_peer.close()
    assert session.counters.received == 0
    assert 35 <= len(listener.frames) <= 60  # about one a tick for a second
    assert all(loudest == 0 and concealed for loudest, concealed in listener.frames)


async def test_a_caller_s_words_sent_while_the_node_stood_still_play_whole_with_no_hole(
    clock: MediaClock,
) -> None:
    """The node's loop stops for half a second (a stall, a pause of the process) while the caller
    talks: the words that waited in the socket meanwhile play in order, without a hole of quiet in
    the middle of them, which the turn-taking would hear as the end of the caller's turn."""
    peer_port = free_udp_and_tcp_port()
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", peer_port))
    listener = Listener()
    session = RtpSession(
        codec=make_codec("PCMU"), remote=("127.0.0.1", peer_port), agent=listener, clock=clock
    )
    our_port = free_udp_and_tcp_port()
    await session.open("127.0.0.1", our_port)

    def send(i: int) -> None:
        payload = ulaw_encode(TONE[i * 160 : (i + 1) * 160])
        caller.sendto(bytes(RtpPacket(0, 100 + i, i * 160, 0xAB, payload)), ("127.0.0.1", our_port))

    try:
        async for i in _every_20_ms(10):
            send(i)
        for i in range(10, 35):  # the loop stands still: nothing is read, no tick runs
            send(i)
            time.sleep(0.02)  # noqa: ASYNC251 - blocking the loop is what is under test
        async for i in _every_20_ms(15):
            send(35 + i)
        await asyncio.sleep(0.5)
    finally:
        session.close()
        caller.close()
    tone = [n for n, (loudest, concealed) in enumerate(listener.frames) if loudest > 1000 and not concealed]
    assert len(tone) == 50  # every packet played
    # The 35 that were sent before and during the stall, and the first after it, play with no hole.
    # (The last 14 are paced by this same loop: on a loaded machine one may come late, which is
    # the jitter buffer's ordinary work, not the stall's.)
    spoken = listener.frames[tone[0] : tone[35] + 1]
    assert [concealed for _, concealed in spoken] == [False] * 36
