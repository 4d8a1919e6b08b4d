"""A scripted phone line for pipeline tests: a `CallSession` paced by a 20 ms loop of its own.

The caller's side is a script of (start second, seconds of speech) parts; between them it sends
silence. What the agent sends is kept frame by frame with the time it went out, so tests can measure
when audio started and stopped.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voicegrid.media.session import AudioFrame, OutboundAudio, Pcm, Talker
from voicegrid.providers.tts.simulated import voice_like


@dataclass
class Line:
    sample_rate: int = 16000
    speech: list[tuple[float, float]] = field(default_factory=list)  # (start s, length s)
    sent: list[tuple[float, bool]] = field(default_factory=list)  # (time, voiced) of agent frames
    hung_up: str | None = None
    transferred_to: str | None = None
    dtmf: str = ""
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self.outbound = OutboundAudio(self.sample_rate)
        self.frame = self.sample_rate // 50
        self._voice = voice_like(30.0, self.sample_rate, level=9000)

    # CallSession
    def queue(self, pcm: Pcm) -> None:
        self.outbound.push(pcm)

    rtp_timestamp = None

    def queued_frames(self) -> int:
        return len(self.outbound)

    def flush(self) -> int:
        return self.outbound.flush()

    def mark_played(self, callback: Callable[[], None]) -> None:
        self.outbound.mark(callback)

    def hangup(self, reason: str = "agent") -> None:
        self.hung_up = self.hung_up or reason

    def transfer(self, to: str) -> None:
        self.transferred_to = to

    def send_dtmf(self, digits: str) -> None:
        self.dtmf += digits

    def caller_frame(self, t: float, index: int) -> Pcm:
        for start, length in self.speech:
            if start <= t < start + length:
                i = (index * self.frame) % (len(self._voice) - self.frame)
                return self._voice[i : i + self.frame]
        return np.zeros(self.frame, dtype=np.int16)

    async def run(self, agent: Talker, seconds: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Play the script to `agent` for `seconds` (or until `stop()`), on the loop's clock (real
        time, or virtual time under `@pytest.mark.virtual_time`)."""
        loop = asyncio.get_running_loop()
        self.started_at = start = loop.time()
        agent.on_start(self)
        i = 0
        while i * 0.02 < seconds and self.hung_up is None and not stop():
            due = start + i * 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))
            pcm = self.outbound.pop()
            now = loop.time()
            self.sent.append((now, pcm is not None and bool(np.abs(pcm).max() > 500)))
            agent.on_audio(self, AudioFrame(self.caller_frame(i * 0.02, i), self.sample_rate, i * 0.02))
            i += 1
        agent.on_end(self)

    def voiced_spans(self) -> list[tuple[float, float]]:
        """(start, end) times, from the line's start, of stretches of agent audio."""
        spans: list[tuple[float, float]] = []
        begin = None
        for t, voiced in self.sent:
            if voiced and begin is None:
                begin = t
            elif not voiced and begin is not None:
                spans.append((begin - self.started_at, t - self.started_at))
                begin = None
        if begin is not None:
            spans.append((begin - self.started_at, self.sent[-1][0] - self.started_at))
        return spans
