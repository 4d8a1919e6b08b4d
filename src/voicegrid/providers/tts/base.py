"""The streaming text-to-speech interface, and failover across a list of providers.

`Tts.synthesize(text, sample_rate)` yields PCM16 mono chunks at the rate the call runs at (providers
are asked for that rate, so nothing is resampled on the way). The base class owns the first-byte and
between-chunk timeouts and counts characters; a provider implements `_synthesize()`. `cancel()` tells a
provider with a persistent connection to drop what it is still generating (barge-in).
"""

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator

from voicegrid.media.session import Pcm
from voicegrid.providers.base import Meter, ProviderConfig, Usage
from voicegrid.providers.errors import ProviderError, ProviderTimeout
from voicegrid.providers.stt.base import ErrorSink


class Tts(ABC):
    name = "tts"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def synthesize(self, text: str, sample_rate: int, meter: Meter) -> AsyncIterator[Pcm]:
        usage = meter.line("tts", self.name, self.config.model)
        usage.requests += 1
        usage.characters += len(text)
        chunks = self._synthesize(text, sample_rate, usage)
        first = True
        try:
            while True:
                limit = self.config.first_byte_timeout_s if first else self.config.idle_timeout_s
                try:
                    async with asyncio.timeout(limit):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    what = "first audio" if first else "next audio"
                    raise ProviderTimeout(self.name, f"no {what} within {limit:.1f} s") from exc
                if len(chunk):
                    first = False
                    yield chunk
        except ProviderError:
            usage.errors += 1
            raise
        finally:
            await chunks.aclose()

    def cancel(self) -> None:  # noqa: B027 - a hook: most providers have nothing to cancel
        """Barge-in: drop what is being generated. Providers without a connection need nothing."""

    async def aclose(self) -> None:  # noqa: B027 - a hook: most providers hold no connection
        """Release connections held for the call."""

    @abstractmethod
    def _synthesize(self, text: str, sample_rate: int, usage: Usage) -> AsyncGenerator[Pcm, None]: ...


class FallbackTts(Tts):
    name = "fallback"

    def __init__(self, providers: list[Tts], on_error: ErrorSink | None = None) -> None:
        if not providers:
            raise ValueError("a fallback list needs at least one provider")
        super().__init__(providers[0].config)
        self.providers = providers
        self.on_error = on_error or (lambda stage, error: None)
        self.last_used: str | None = None

    async def synthesize(self, text: str, sample_rate: int, meter: Meter) -> AsyncIterator[Pcm]:
        error: ProviderError | None = None
        for provider in self.providers:
            started = False
            try:
                async for chunk in provider.synthesize(text, sample_rate, meter):
                    started = True
                    self.last_used = provider.name
                    yield chunk
                return
            except ProviderError as exc:
                self.on_error("tts", exc)
                if started:
                    raise
                error = exc
        assert error is not None
        raise error

    def cancel(self) -> None:
        for provider in self.providers:
            provider.cancel()

    async def aclose(self) -> None:
        for provider in self.providers:
            with contextlib.suppress(ProviderError, OSError):
                await provider.aclose()

    def _synthesize(
        self, text: str, sample_rate: int, usage: Usage
    ) -> AsyncGenerator[Pcm, None]:  # pragma: no cover - synthesize() is overridden
        raise NotImplementedError
