"""The browser's "talk to your agent" stream: 16 kHz PCM16 mono in binary frames, both ways.

The page sends 20 ms frames from the microphone; each media-clock tick sends the agent's next
frame back. `flush()` sends a `{"event": "clear"}` text frame, so the page stops what it has
scheduled (barge-in). Frames of odd length or over the size cap are counted and dropped.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicegrid.media.session import AudioFrame
from voicegrid.transports.leg import StreamLegBase

SAMPLE_RATE = 16000
MAX_FRAME_BYTES = 64 * 1024


@dataclass
class BrowserCounters:
    frames_in: int = 0
    frames_out: int = 0
    invalid: int = 0


class BrowserStream(StreamLegBase):
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        send_bytes: Callable[[bytes], None],
        send_text: Callable[[str], None],
        on_close: Callable[[str], None],
    ) -> None:
        super().__init__(on_close)
        self.send_bytes = send_bytes
        self.send_text = send_text
        self.counters = BrowserCounters()
        self._media_time = 0.0

    def receive(self, data: bytes) -> None:
        if not data or len(data) % 2 or len(data) > MAX_FRAME_BYTES:
            self.counters.invalid += 1
            return
        if self.agent is None:
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

    def flush(self) -> int:
        dropped = self.outbound.flush()
        self.send_text(json.dumps({"event": "clear"}))
        return dropped

    def transfer(self, to: str) -> None:
        self.send_text(json.dumps({"event": "transfer", "to": to}))

    def send_dtmf(self, digits: str) -> None:
        self.send_text(json.dumps({"event": "dtmf", "digits": digits}))
