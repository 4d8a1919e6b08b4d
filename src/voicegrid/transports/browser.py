"""The browser's "talk to your agent" stream: 16 kHz PCM16 mono in binary frames, both ways.

The page sends 20 ms frames from the microphone; each media-clock tick sends the agent's next
frame back. `flush()` sends a `{"event": "clear"}` text frame, so the page stops what it has
scheduled (barge-in). Frames of odd length or over the size cap are counted and dropped.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicegrid.media.session import Agent, AudioFrame, OutboundAudio, Pcm

SAMPLE_RATE = 16000
MAX_FRAME_BYTES = 64 * 1024


@dataclass
class BrowserCounters:
    frames_in: int = 0
    frames_out: int = 0
    invalid: int = 0


class BrowserStream:
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        agent: Agent,
        send_bytes: Callable[[bytes], None],
        send_text: Callable[[str], None],
        on_close: Callable[[str], None],
    ) -> None:
        self.agent = agent
        self.send_bytes = send_bytes
        self.send_text = send_text
        self.on_close = on_close
        self.outbound = OutboundAudio(SAMPLE_RATE)
        self.counters = BrowserCounters()
        self._media_time = 0.0
        self.closed = False

    def receive(self, data: bytes) -> None:
        if not data or len(data) % 2 or len(data) > MAX_FRAME_BYTES:
            self.counters.invalid += 1
            return
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        self.counters.frames_in += 1
        self.agent.on_audio(self, AudioFrame(pcm, SAMPLE_RATE, self._media_time))
        self._media_time += len(pcm) / SAMPLE_RATE

    def on_tick(self, scheduled: float, now: float) -> None:
        if self.closed:
            return
        pcm = self.outbound.pop()
        if pcm is not None:
            self.send_bytes(pcm.astype("<i2").tobytes())
            self.counters.frames_out += 1

    def queue(self, pcm: Pcm) -> None:
        self.outbound.push(pcm)

    def mark_played(self, callback: Callable[[], None]) -> None:
        self.outbound.mark(callback)

    def flush(self) -> int:
        dropped = self.outbound.flush()
        self.send_text(json.dumps({"event": "clear"}))
        return dropped

    def hangup(self, reason: str = "agent") -> None:
        if not self.closed:
            self.closed = True
            self.agent.on_end(self)
            self.on_close(reason)

    def transfer(self, to: str) -> None:
        self.send_text(json.dumps({"event": "transfer", "to": to}))

    def send_dtmf(self, digits: str) -> None:
        self.send_text(json.dumps({"event": "dtmf", "digits": digits}))
