"""baresip, a real softphone, calls voicegrid and is called by it, over UDP on loopback."""

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.baresip import make_baresip, run_baresip, stop
from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.sip.message import Request
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.book import CallState
from voicegrid.telephony.calls import CallControl, Decision
from voicegrid.telephony.plan import CallPlan
from voicegrid.telephony.rtp_session import RtpSession
from voicegrid.testing.ports import free_udp_and_tcp_port


async def answer(request: Request, source: Addr, call_id: str) -> Decision:
    return Decision(200, ring_ms=100)


@pytest.fixture
async def control() -> AsyncIterator[CallControl]:
    port = free_udp_and_tcp_port()
    calls = CallControl(UserAgent(("udp", "127.0.0.1", port)), answer)
    await calls.start("127.0.0.1", port)
    try:
        yield calls
    finally:
        await calls.stop()


async def test_baresip_calls_voicegrid_and_hangs_up(control: CallControl, tmp_path: Path) -> None:
    phone = await asyncio.to_thread(make_baresip, tmp_path)
    target = f"sip:+15550100@127.0.0.1:{control.ua.local[2]}"
    process = await run_baresip(phone, "-e", f"/dial {target}", quit_after_s=5)
    await stop(process)
    await asyncio.sleep(0.3)
    (call,) = control.calls.values()
    log = await asyncio.to_thread(phone.text)
    assert "Call established" in log, log
    assert call.direction == "inbound"
    assert call.state is CallState.ENDED
    assert (call.outcome, call.ended_by) == ("completed", "remote")
    assert call.media is not None
    assert (call.media.codec.name, call.media.remote_address) == ("PCMU", "127.0.0.1")


async def test_voicegrid_calls_baresip_and_hangs_up(control: CallControl, tmp_path: Path) -> None:
    phone = await asyncio.to_thread(make_baresip, tmp_path)
    process = await run_baresip(phone, quit_after_s=8)
    try:
        await asyncio.sleep(1.0)  # let it bind its SIP port
        call = control.dial(
            phone.uri, ("udp", "127.0.0.1", phone.sip_port), from_uri="sip:+15550100@127.0.0.1"
        )
        async with asyncio.timeout(10):
            await call.answered.wait()
        await asyncio.sleep(0.5)
        control.hangup(call)
        await asyncio.sleep(0.5)
    finally:
        process.terminate()
        await stop(process)
    log = await asyncio.to_thread(phone.text)
    assert "Call established" in log, log
    assert "terminated" in log
    assert (call.outcome, call.ended_by) == ("answered", "local")


async def test_a_g722_call_from_baresip_is_decoded_at_16_khz(tmp_path: Path) -> None:
    heard: list[tuple[int, float]] = []

    class Levels(EchoAgent):
        def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
            if not frame.concealed:
                heard.append((frame.sample_rate, frame.level_dbfs()))

    async def wideband(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=Levels()))

    port = free_udp_and_tcp_port()
    calls = CallControl(UserAgent(("udp", "127.0.0.1", port)), wideband)
    await calls.start("127.0.0.1", port)
    try:
        phone = await asyncio.to_thread(make_baresip, tmp_path, "G722")
        process = await run_baresip(phone, "-e", f"/dial sip:+15550100@127.0.0.1:{port}", quit_after_s=3)
        await stop(process)
        await asyncio.sleep(0.3)
    finally:
        await calls.stop()
    (call,) = calls.calls.values()
    assert call.media is not None
    assert call.media.codec.name == "G722"
    assert len(heard) > 50  # over a second of audio
    assert {rate for rate, _ in heard} == {16000}
    levels = sorted(level for _, level in heard)
    assert levels[len(levels) // 2] > -30  # the tone, decoded: not silence, not noise floor


def _wav(path: Path) -> np.ndarray:  # type: ignore[type-arg]
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 8000)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)


async def test_baresip_hears_its_own_voice_back_from_the_echo_agent(tmp_path: Path) -> None:
    async def echo(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=EchoAgent()))

    port = free_udp_and_tcp_port()
    calls = CallControl(UserAgent(("udp", "127.0.0.1", port)), echo)
    await calls.start("127.0.0.1", port)
    try:
        phone = await asyncio.to_thread(lambda: make_baresip(tmp_path, record=True, sweep=True))
        process = await run_baresip(phone, "-e", f"/dial sip:+15550101@127.0.0.1:{port}", quit_after_s=4)
        await stop(process)
    finally:
        await calls.stop()
    sent = await asyncio.to_thread(lambda: _wav(next(tmp_path.glob("dump-*-enc.wav"))))
    heard = await asyncio.to_thread(lambda: _wav(next(tmp_path.glob("dump-*-dec.wav"))))
    assert len(heard) > 2 * 8000  # more than two seconds of what came back
    # The echo's delay: where a second of what was sent best matches what was heard (a sweep has one).
    probe = sent[8000:16000]
    scores = np.correlate(heard[: 16000 + 8000], probe, mode="valid")
    lag = int(np.argmax(scores)) - 8000  # samples after the probe was sent
    assert 0 <= lag < 0.5 * 8000  # back within half a second (40 ms here)
    echoed = heard[8000 + lag : 16000 + lag]
    assert np.corrcoef(echoed, probe)[0, 1] > 0.9  # the same sound, through G.711 twice
    assert 0.5 < np.std(echoed) / np.std(probe) < 2.0  # at about the same level


class Bursts(EchoAgent):
    """Says 0.4 s of a 1 kHz tone at the start of every second it hears, and nothing in between."""

    def __init__(self) -> None:
        self.frames = 0
        self.session: CallSession | None = None
        self.tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(3200) / 8000)).astype(np.int16)

    def on_start(self, session: CallSession) -> None:
        self.session = session

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        if self.frames % 50 == 10:
            session.queue(self.tone)
        self.frames += 1


async def test_baresip_plays_each_reply_after_suppressed_silence_whole_and_on_time(tmp_path: Path) -> None:
    talker = Bursts()

    async def bursts(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=talker))

    port = free_udp_and_tcp_port()
    calls = CallControl(UserAgent(("udp", "127.0.0.1", port)), bursts, suppress_silence=True)
    await calls.start("127.0.0.1", port)
    try:
        phone = await asyncio.to_thread(lambda: make_baresip(tmp_path, record=True))
        process = await run_baresip(phone, "-e", f"/dial sip:+15550101@127.0.0.1:{port}", quit_after_s=5)
        await stop(process)
    finally:
        await calls.stop()
    session = talker.session
    assert isinstance(session, RtpSession)
    # what we sent: the first tick's silence, then only the bursts, every quiet tick suppressed
    assert session.counters.silence_suppressed > 100
    bursts_sent = session.counters.sent - session.counters.silence_sent
    assert bursts_sent >= 60
    assert session.counters.silence_sent <= 2  # no gap reached the keepalive's second
    # baresip decoded each talkspurt (its marker bit, its timestamp jump) whole: it dumps every frame
    # it decodes, so every tone frame sent is there (but for the last burst, which the hang-up may cut)
    heard = await asyncio.to_thread(lambda: _wav(next(tmp_path.glob("dump-*-dec.wav"))))
    loud = np.sqrt(np.mean(heard[: len(heard) // 160 * 160].reshape(-1, 160) ** 2, axis=1)) > 1000
    assert bursts_sent - 20 <= int(loud.sum()) <= bursts_sent
