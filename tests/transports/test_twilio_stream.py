"""The Twilio Media Streams core, fed frames and ticks: marks, clear, DTMF, bad frames."""

import json

import numpy as np

from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.telephony.agents import EchoAgent
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
