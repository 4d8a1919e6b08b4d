"""The Twilio Media Streams core, fed frames and ticks: marks, clear, DTMF, bad frames."""

import asyncio
import itertools
import json

import numpy as np
import pytest

from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.transports.twilio import TwilioStream

START = json.dumps(
    {"event": "start", "streamSid": "MZ1", "start": {"customParameters": {"agent_id": "agt_1"}}}
)


class Digits(EchoAgent):
    def __init__(self) -> None:
        self.digits: list[str] = []

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        self.digits.append(digit)

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        pass


def _stream() -> tuple[TwilioStream, list[dict[str, object]], list[str]]:
    sent: list[dict[str, object]] = []
    closed: list[str] = []
    stream = TwilioStream(lambda text: sent.append(json.loads(text)), closed.append)
    start = stream.receive(START)
    assert start is not None
    assert start.parameters == {"agent_id": "agt_1"}
    stream.agent = Digits()
    return stream, sent, closed


def test_a_mark_comes_back_after_the_audio_queued_before_it() -> None:
    stream, sent, _ = _stream()
    stream.queue(np.ones(320, dtype=np.int16))  # two frames
    stream.mark("greeting-done")
    for tick in range(4):
        stream.on_tick(tick * 0.02, tick * 0.02)
    assert [m["event"] for m in sent] == ["media", "media", "mark"]
    assert sent[2]["mark"] == {"name": "greeting-done"}


def test_flush_drops_the_queue_and_tells_twilio_to_clear() -> None:
    stream, sent, _ = _stream()
    stream.queue(np.ones(1600, dtype=np.int16))
    stream.on_tick(0.0, 0.0)
    assert stream.flush() == 9
    stream.on_tick(0.02, 0.02)
    assert [m["event"] for m in sent] == ["media", "clear"]


def test_dtmf_reaches_the_agent_and_stop_closes() -> None:
    stream, _, closed = _stream()
    for digit in "12#":
        stream.receive(
            json.dumps(
                {"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": digit}}
            )
        )
    stream.receive(json.dumps({"event": "dtmf", "dtmf": {"digit": "xx"}}))
    assert isinstance(stream.agent, Digits)
    assert stream.agent.digits == ["1", "2", "#"]
    stream.receive(json.dumps({"event": "stop", "streamSid": "MZ1"}))
    assert closed == ["remote"]


def test_bad_frames_are_counted_and_ignored() -> None:
    stream, _, closed = _stream()
    for text in ("not json", "{}", json.dumps({"event": "media", "media": {"payload": "!!!"}}), "x" * 70000):
        stream.receive(text)
    assert stream.counters.invalid == 4
    assert closed == []


@pytest.mark.virtual_time
async def test_a_reply_after_silence_goes_to_twilio_at_the_clock_s_next_sub_slot() -> None:
    loop = asyncio.get_running_loop()
    stream, sent, _ = _stream()
    at: list[float] = []
    stream.send_text = lambda text: (sent.append(json.loads(text)), at.append(loop.time()))  # type: ignore[method-assign]
    clock = MediaClock(clock=loop.time)
    stream.clock = clock
    clock.register(stream)
    clock.start()
    try:
        await asyncio.sleep(0.101)  # nothing to say: nothing sent, the stream's turn every 20 ms
        queued_at = clock.now()
        stream.queue(np.ones(480, dtype=np.int16))  # three frames of a reply
        await asyncio.sleep(0.1)
    finally:
        clock.unregister(stream)
        await clock.stop()
    assert [m["event"] for m in sent] == ["media"] * 3
    assert queued_at < at[0] <= queued_at + 0.005 + 1e-9
    assert [b - a for a, b in itertools.pairwise(at)] == pytest.approx([0.02, 0.02])
