"""Call recording: both directions, tick by tick, mixed into one mono PCM16 stream at the call's rate.

Each media-clock tick adds what was played to us and what we sent, 20 ms each, so the two stay
aligned without timestamps. The mix leaves in chunks of `chunk_seconds` (`take()`), to be written as
the call goes: a recorder holds at most one chunk, whatever the call's length, and stops at
`max_seconds`. `wav_header` gives the 44 bytes a WAV of a known length starts with.
"""

import struct

import numpy as np

from voicegrid.media.session import Pcm


def wav_header(sample_rate: int, data_bytes: int) -> bytes:
    """RIFF/WAVE header of a mono PCM16 file with `data_bytes` of samples."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class CallMix:
    def __init__(self, sample_rate: int, max_seconds: float = 4 * 3600, chunk_seconds: float = 1.0) -> None:
        self.sample_rate = sample_rate
        self.frame = sample_rate // 50
        self.max_frames = int(max_seconds * 50)
        self.chunk_frames = max(1, int(chunk_seconds * 50))
        self.frames = 0  # mixed so far, taken or not
        self._pending: list[Pcm] = []
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
        if self.frames >= self.max_frames:
            return
        mixed = self._fit(inbound).astype(np.int32) + self._fit(outbound).astype(np.int32)
        self._pending.append(np.clip(mixed, -32768, 32767).astype(np.int16))
        self.frames += 1

    @property
    def seconds(self) -> float:
        return self.frames / 50

    @property
    def ready(self) -> bool:
        """A whole chunk waits to be taken."""
        return len(self._pending) >= self.chunk_frames

    def take(self) -> bytes:
        """The mixed samples not yet taken, as little-endian PCM16 bytes."""
        if not self._pending:
            return b""
        data = np.concatenate(self._pending).astype("<i2").tobytes()
        self._pending = []
        return data
