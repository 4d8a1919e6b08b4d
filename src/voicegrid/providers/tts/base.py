"""The streaming text-to-speech interface, and failover across a list of providers.

`Tts.synthesize(text, sample_rate)` yields PCM16 mono chunks at the rate the call runs at (providers
are asked for that rate, so nothing is resampled on the way). The base class owns the first-byte and
between-chunk timeouts and counts characters; a provider implements `_synthesize()`. `cancel()` tells a
provider with a persistent connection to drop what it is still generating (barge-in).
"""

import contextlib
import functools
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import numpy as np

from voicegrid.media.session import Pcm
from voicegrid.providers.base import Failover, Meter, ProviderConfig, Usage, timed
from voicegrid.providers.errors import ProviderError
from voicegrid.providers.stt.base import ErrorSink


class Pcm16:
    """Little-endian 16-bit samples from blocks cut anywhere: an odd byte waits for the next block."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, block: bytes) -> Pcm | None:
        data = self._carry + block
        cut = len(data) // 2 * 2
        self._carry = data[cut:]
        return np.frombuffer(data[:cut], dtype="<i2").astype(np.int16) if cut else None


class TtsStage(ABC):
    """What the pipeline holds for speech output: text in, PCM chunks at the call's rate out."""

    name = "tts"

    @property
    def served_by(self) -> str:
        """The provider that served the last request: a failover list names the one that answered."""
        return self.name

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @abstractmethod
    def synthesize(self, text: str, sample_rate: int, meter: Meter) -> AsyncIterator[Pcm]: ...

    def cancel(self) -> None:  # noqa: B027 - a hook: most providers have nothing to cancel
        """Barge-in: drop what is being generated. Providers without a connection need nothing."""

    async def aclose(self) -> None:  # noqa: B027 - a hook: most providers hold no connection
        """Release connections held for the call."""


class Tts(TtsStage):
    """A provider: the base owns the timeouts and characters; the provider implements `_synthesize`."""

    async def synthesize(self, text: str, sample_rate: int, meter: Meter) -> AsyncIterator[Pcm]:
        usage = meter.line("tts", self.name, self.config.model)
        usage.requests += 1
        usage.characters += len(text)
        chunks = self._synthesize(text, sample_rate, usage)
        async for chunk in timed(chunks, self.config, self.name, usage, "audio", _has_audio):
            if len(chunk):
                yield chunk

    @abstractmethod
    def _synthesize(self, text: str, sample_rate: int, usage: Usage) -> AsyncGenerator[Pcm, None]: ...


def _has_audio(chunk: Pcm) -> bool:
    return len(chunk) > 0


class FallbackTts(TtsStage):
    name = "fallback"

    def __init__(self, providers: list[TtsStage], on_error: ErrorSink | None = None) -> None:
        self.failover: Failover[Any] = Failover(
            "tts", [p.name for p in providers], on_error or (lambda stage, error: None)
        )
        super().__init__(providers[0].config)
        self.providers = providers

    @property
    def served_by(self) -> str:
        return self.failover.last_used or self.name

    async def synthesize(self, text: str, sample_rate: int, meter: Meter) -> AsyncIterator[Pcm]:
        attempts = [functools.partial(p.synthesize, text, sample_rate, meter) for p in self.providers]
        async for chunk in self.failover.stream(attempts, _has_audio):
            yield chunk

    def cancel(self) -> None:
        for provider in self.providers:
            provider.cancel()

    async def aclose(self) -> None:
        for provider in self.providers:
            with contextlib.suppress(ProviderError, OSError):
                await provider.aclose()
