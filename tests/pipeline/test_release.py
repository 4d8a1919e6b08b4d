"""An ended call's voice agent, released, is freed at once with the call's media: nothing of it is
left for the cycle collector, which the platform runs rarely (it is tuned for the media path)."""

import asyncio
import gc
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

from voicegrid.media.codecs import make_codec
from voicegrid.media.g711 import ulaw_encode
from voicegrid.media.rtp import RtpPacket
from voicegrid.pipeline import VoiceConfig, VoiceSession
from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.registry import build_llm, build_stt, build_tts
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.rtp_session import RtpSession

pytestmark = pytest.mark.virtual_time
REMOTE = ("127.0.0.1", 40000)


class Sender:
    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _agent() -> VoiceSession:
    def configs(options: dict[str, object]) -> list[ProviderConfig]:
        return [ProviderConfig("simulated", options=options)]

    def ignore(stage: str, error: object) -> None:
        pass

    return VoiceSession(
        VoiceConfig(greeting="Hello, how can I help?"),
        stt=build_stt(configs({"transcripts": ["are you open tonight"]}), ignore),
        llm=build_llm(
            configs({"replies": ["Yes, we are open until ten tonight, every day of the week."]}), ignore
        ),
        tts=build_tts(configs({}), ignore),
    )


def _payloads() -> list[bytes]:
    """Two seconds of a voice-like signal, then quiet: the caller asks, then listens."""
    t = np.arange(16000) / 8000
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), start=1))
    pcm = (voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * 6000).astype(np.int16)
    speech = [ulaw_encode(pcm[i : i + 160]) for i in range(0, len(pcm), 160)]
    return speech + [b"\xff" * 160] * 200


async def _call_ended_mid_reply() -> tuple[weakref.ref[VoiceSession], weakref.ref[Sender], dict[str, object]]:
    agent, sender = _agent(), Sender()
    session = RtpSession(
        codec=make_codec("PCMU"), remote=REMOTE, agent=agent, clock=MediaClock(), no_rtp_timeout_s=1e9
    )
    session.attach(sender)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for seq, payload in enumerate(_payloads()):
        now = loop.time() - start
        session.receive(bytes(RtpPacket(0, seq, seq * 160, 1000, payload)), REMOTE, now)
        session.on_tick(now, now)
        await asyncio.sleep(0.02)
        if agent.turns and seq > 150:
            break  # the answer is being said: the call ends in the middle of it
    session.close()
    await agent.wait_closed()
    summary = agent.summary()
    agent.release()
    return weakref.ref(agent), weakref.ref(sender), summary


@pytest.mark.usefixtures("no_cycle_collector")
async def test_a_released_voice_session_and_its_calls_media_are_freed_without_the_cycle_collector() -> None:
    agent, sender, summary = await _call_ended_mid_reply()
    assert [t["speaker"] for t in summary["transcript"]][:2] == ["agent", "caller"]  # a real conversation
    await asyncio.sleep(0.1)
    assert agent() is None
    assert sender() is None  # held by the call's media (RtpSession) alone
