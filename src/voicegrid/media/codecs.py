"""Audio codecs behind one interface, one instance per call direction (G.722 keeps state).

G.711 μ-law and A-law at 8 kHz; G.722 at 16 kHz (RTP clock 8000, RFC 3551), from the public-domain
libg722 that the `g722` package wraps.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicegrid.media import g711
from voicegrid.media.errors import CodecError
from voicegrid.media.session import Pcm


@dataclass
class Codec:
    name: str
    payload_type: int
    sample_rate: int
    rtp_clock_rate: int
    silence_byte: int | None = None  # for G.711, the byte of digital silence
    _encoder: Any = field(default=None, repr=False)
    _decoder: Any = field(default=None, repr=False)

    @property
    def samples_per_frame(self) -> int:
        return self.sample_rate // 50  # 20 ms

    @property
    def timestamp_step(self) -> int:
        return self.rtp_clock_rate // 50

    def encode(self, pcm: Pcm) -> bytes:
        if self.name == "PCMU":
            return g711.ulaw_encode(pcm)
        if self.name == "PCMA":
            return g711.alaw_encode(pcm)
        return bytes(self._encoder.encode(pcm.astype(np.int16, copy=False)))

    def decode(self, payload: bytes) -> Pcm:
        if self.name == "PCMU":
            return g711.ulaw_decode(payload)
        if self.name == "PCMA":
            return g711.alaw_decode(payload)
        return np.asarray(self._decoder.decode(payload), dtype=np.int16)


def make_codec(name: str) -> Codec:
    if name == "PCMU":
        return Codec("PCMU", 0, 8000, 8000, 0xFF)
    if name == "PCMA":
        return Codec("PCMA", 8, 8000, 8000, 0xD5)
    if name == "G722":
        import G722  # a compiled module; imported only for calls that use it

        return Codec("G722", 9, 16000, 8000, None, G722.G722(16000, 64000), G722.G722(16000, 64000))
    raise CodecError(f"no codec {name!r}")
