"""Call recording: both directions, tick by tick, mixed into one mono WAV at the call's sample rate.

Each media-clock tick adds what was played to us and what we sent, 20 ms each, so the two stay
aligned without timestamps. Memory is bounded by `max_seconds`; the WAV is built once, at the end.
"""

import io
import wave

import numpy as np

from voicegrid.media.session import Pcm


class Recorder:
    def __init__(self, sample_rate: int, max_seconds: float = 4 * 3600) -> None:
        self.sample_rate = sample_rate
        self.frame = sample_rate // 50
        self.max_frames = int(max_seconds * 50)
        self._inbound: list[Pcm] = []
        self._outbound: list[Pcm] = []
        self._silence = np.zeros(self.frame, dtype=np.int16)

    def _fit(self, pcm: Pcm | None) -> Pcm:
        if pcm is None or len(pcm) == 0:
            return self._silence
        if len(pcm) == self.frame:
            return pcm
        out = np.zeros(self.frame, dtype=np.int16)
        out[: min(len(pcm), self.frame)] = pcm[: self.frame]
        return out

    def tick(self, inbound: Pcm | None, outbound: Pcm | None) -> None:
        if len(self._inbound) < self.max_frames:
            self._inbound.append(self._fit(inbound))
            self._outbound.append(self._fit(outbound))

    @property
    def seconds(self) -> float:
        return len(self._inbound) / 50

    def mixed(self) -> Pcm:
        if not self._inbound:
            return np.zeros(0, dtype=np.int16)
        total = np.concatenate(self._inbound).astype(np.int32) + np.concatenate(self._outbound).astype(
            np.int32
        )
        return np.clip(total, -32768, 32767).astype(np.int16)

    def wav_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(self.mixed().astype("<i2").tobytes())
        return buffer.getvalue()
