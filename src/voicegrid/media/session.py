"""The call-session interface every agent and transport plugs into.

Audio in: `AudioFrame`s of PCM16 mono with a timestamp, one per 20 ms. Audio out: `queue()` frames,
`flush()` to drop what is queued at once (barge-in). Plus DTMF digits in, and hangup and transfer
out. RTP calls, WebSocket bridges and test harnesses all implement `CallSession`.
"""

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]


@dataclass(slots=True, init=False)  # not frozen: compiled, a frozen dataclass's __init__ is interpreted
class AudioFrame:
    """20 ms of a call's audio as it was heard; nothing changes it after it is made."""

    pcm: Pcm  # int16 mono
    sample_rate: int
    timestamp_s: float  # media time of the first sample, from the start of the call's audio
    concealed: bool  # produced by loss concealment, not heard from the caller

    def __init__(self, pcm: Pcm, sample_rate: int, timestamp_s: float, concealed: bool = False) -> None:
        self.pcm = pcm
        self.sample_rate = sample_rate
        self.timestamp_s = timestamp_s
        self.concealed = concealed

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate

    def level_dbfs(self) -> float:
        if not len(self.pcm):
            return -120.0
        return 20 * float(np.log10(max(rms(self.pcm), 1e-6) / 32768))


def rms(pcm: "Pcm") -> float:
    """Root-mean-square level of PCM16 samples (0 for none): the one loudness measure we use."""
    if not len(pcm):
        return 0.0
    samples = pcm.astype(np.float64)
    # a dot product, not np.mean of squares: the same number in a quarter of the time (7 -> 1.7 us a
    # frame), which counts when every frame of every call is measured
    return math.sqrt(float(samples.dot(samples)) / len(samples))


class Talker(Protocol):
    """What listens and talks on a call: told of audio, digits and the end; acts through the session."""

    def on_start(self, session: "CallSession") -> None: ...
    def on_audio(self, session: "CallSession", frame: AudioFrame) -> None: ...
    def on_dtmf(self, session: "CallSession", digit: str) -> None: ...
    def on_end(self, session: "CallSession") -> None: ...


class CallSession(Protocol):
    sample_rate: int

    @property
    def rtp_timestamp(self) -> int | None:
        """The RTP timestamp of the next packet sent, for sessions that send RTP; else None."""
        ...

    def queued_frames(self) -> int:
        """20 ms frames queued and not yet sent."""
        ...

    def queue(self, pcm: Pcm) -> None: ...
    def flush(self) -> int: ...
    def hangup(self, reason: str = "agent") -> None: ...
    def transfer(self, to: str) -> None: ...
    def send_dtmf(self, digits: str) -> None: ...
    def mark_played(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the audio queued so far has gone out (at once if none is queued)."""
        ...


class OutboundAudio:
    """Frames waiting to be sent, 20 ms each at the session's rate; flushed at once on barge-in.

    With `encode` (a stateless codec: G.711), what is pushed is encoded at once, in one pass over the
    whole chunk, and each frame keeps its payload: the send on each tick only takes it (`pop_frame`).
    """

    def __init__(
        self,
        sample_rate: int,
        frame_ms: int = 20,
        max_seconds: float = 120.0,
        encode: Callable[[Pcm], bytes] | None = None,
    ) -> None:
        self.samples_per_frame = sample_rate * frame_ms // 1000
        self.encode = encode
        self._frames: deque[tuple[Pcm, bytes | None]] = deque()
        self._partial = np.zeros(0, dtype=np.int16)
        self._max_frames = int(max_seconds * 1000 / frame_ms)
        self.dropped = 0
        self.pushed = 0  # whole frames queued, ever
        self.popped = 0  # frames sent, ever
        self._marks: deque[tuple[int, Callable[[], None]]] = deque()

    def push(self, pcm: Pcm) -> None:
        data = np.concatenate([self._partial, pcm.astype(np.int16, copy=False)])
        step = self.samples_per_frame
        n = len(data) // step
        coded = self.encode(data[: n * step]) if self.encode is not None and n else b""
        size = len(coded) // n if coded else 0
        for i in range(n):
            if len(self._frames) >= self._max_frames:
                self.dropped += 1
                continue
            self._frames.append((data[i * step : (i + 1) * step], coded[i * size : (i + 1) * size] or None))
            self.pushed += 1
        self._partial = data[n * step :]

    def mark(self, callback: Callable[[], None]) -> None:
        """Call `callback` at the pop that sends the last frame queued so far (or the next pop)."""
        self._marks.append((self.pushed + (1 if len(self._partial) else 0), callback))

    def pop(self) -> Pcm | None:
        frame = self.pop_frame()
        return frame[0] if frame is not None else None

    def pop_frame(self) -> tuple[Pcm, bytes | None] | None:
        """The next frame and, with `encode`, its payload (None: encode it, the padded tail)."""
        frame: tuple[Pcm, bytes | None] | None = None
        if self._frames:
            frame = self._frames.popleft()
        elif len(self._partial):  # the tail of an utterance, padded with silence
            tail = np.zeros(self.samples_per_frame, dtype=np.int16)
            tail[: len(self._partial)] = self._partial
            frame = (tail, None)
            self._partial = np.zeros(0, dtype=np.int16)
            self.pushed += 1
        if frame is not None:
            self.popped += 1
        while self._marks and self._marks[0][0] <= self.popped:
            self._marks.popleft()[1]()
        return frame

    def flush(self) -> int:
        n = len(self._frames) + (1 if len(self._partial) else 0)
        self._frames.clear()
        self._partial = np.zeros(0, dtype=np.int16)
        self.pushed = self.popped
        while self._marks:  # what was dropped is never played; its marks fire now, as "done"
            self._marks.popleft()[1]()
        return n

    def frames_pending(self) -> int:
        """Frames still to send, a partial tail counted as one."""
        return len(self._frames) + (1 if len(self._partial) else 0)

    def __len__(self) -> int:
        return len(self._frames)
