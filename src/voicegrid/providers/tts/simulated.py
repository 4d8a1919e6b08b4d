"""A simulated TTS for load and latency tests: voice-like audio whose length follows the text.

The audio is a 140 Hz buzz with harmonics, swelling at a syllable rate, so voice activity detectors
on the far end hear speech. Options: `first_byte_ms` / `first_byte_jitter_ms`, `ms_per_char`
(default 60), `chunk_ms` (default 100), `realtime` (each chunk no sooner than it would play, as
some vendors stream; otherwise all at once after the first byte), `fail` ("connect", "auth",
"slow"), `seed`.
"""

import asyncio
import random
from collections.abc import AsyncGenerator

import numpy as np

from voicegrid.media.session import Pcm
from voicegrid.providers.base import ProviderConfig, Usage, sample_latency_s
from voicegrid.providers.errors import ProviderAuthError, ProviderConnectError
from voicegrid.providers.tts.base import Tts


def voice_like(seconds: float, sample_rate: int, level: float = 6000.0) -> Pcm:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    buzz = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    return (level * buzz * envelope / 2).astype(np.int16)


class SimulatedTts(Tts):
    name = "simulated"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._rng = random.Random(self.config.option("seed", 3))

    async def _synthesize(self, text: str, sample_rate: int, usage: Usage) -> AsyncGenerator[Pcm, None]:
        fail = self.config.option("fail")
        if fail == "connect":
            raise ProviderConnectError(self.name, "connection refused (simulated)")
        if fail == "auth":
            raise ProviderAuthError(self.name, "invalid API key (simulated)", status=401)
        await asyncio.sleep(sample_latency_s(self.config.options, "first_byte", 150.0, self._rng))
        if fail == "slow":
            await asyncio.sleep(3600)
        audio = voice_like(len(text) * float(self.config.option("ms_per_char", 60)) / 1000, sample_rate)
        step = int(sample_rate * float(self.config.option("chunk_ms", 100)) / 1000)
        pace = step / sample_rate if self.config.option("realtime") else 0.0
        for i in range(0, len(audio), step):
            if i:
                await asyncio.sleep(pace)
            yield audio[i : i + step]
