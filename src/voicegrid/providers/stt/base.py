"""The streaming speech-to-text interface, and failover across a list of providers.

A provider implements `Stt._open()` returning an `SttStream`; the base classes own the connect
timeout, usage (audio seconds) and error mapping. `FallbackStt` is just another `Stt`: when the
stream in use fails, it opens the next provider and replays the audio of the utterance in progress,
so the turn is not lost.
"""

import asyncio
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from voicegrid.providers.base import Meter, ProviderConfig, Usage
from voicegrid.providers.errors import ProviderClosed, ProviderError, ProviderTimeout

ErrorSink = Callable[[str, ProviderError], None]  # (stage, error)
REPLAY_SECONDS = 30.0  # audio kept for a failover replay, since the last final transcript


def is_flux(provider: str, model: str | None) -> bool:
    """Deepgram's Flux (`/v2/listen`): it ends turns on the quiet it hears and takes no Finalize."""
    return provider == "deepgram" and (model or "").startswith("flux")


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    is_final: bool  # this stretch of audio will not be transcribed again
    speech_final: bool = False  # the provider's endpointing says the speaker paused or finished
    confidence: float = 1.0
    provider: str = ""
    # where the transcript's audio ends, in seconds of the audio sent on its stream (None: unknown):
    # a final that comes late can be told from one of the words said after it
    audio_end_s: float | None = None


class TranscriptStream(ABC):
    """What the pipeline holds: `send` PCM16 mono audio, `recv` transcripts, `finalize` to flush."""

    def __init__(self, provider: str, sample_rate: int) -> None:
        self.provider = provider
        self.sample_rate = sample_rate
        self.closed = False

    @abstractmethod
    async def send(self, pcm: bytes) -> None: ...

    @abstractmethod
    async def finalize(self) -> None:
        """The caller paused: transcribe what is buffered now instead of waiting for more audio."""

    @abstractmethod
    async def recv(self) -> Transcript | None:
        """The next transcript; None once the stream has ended; raises the stream's failure."""

    @abstractmethod
    async def aclose(self) -> None: ...


class SttStream(TranscriptStream):
    """A provider's stream: the base counts audio seconds and queues what the provider emits."""

    def __init__(self, provider: str, sample_rate: int, usage: Usage) -> None:
        super().__init__(provider, sample_rate)
        self.usage = usage
        self.sent_s = 0.0  # audio sent on this stream
        self._events: asyncio.Queue[Transcript | ProviderError | None] = asyncio.Queue()

    async def send(self, pcm: bytes) -> None:
        if self.closed:
            raise ProviderClosed(self.provider, "stream is closed")
        seconds = len(pcm) / 2 / self.sample_rate
        self.usage.audio_seconds += seconds
        self.sent_s += seconds
        await self._send(pcm)

    async def finalize(self) -> None:
        if not self.closed:
            await self._finalize()

    async def recv(self) -> Transcript | None:
        item = await self._events.get()
        if isinstance(item, ProviderError):
            self.usage.errors += 1
            raise item
        return item

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self._close()

    # ---- for implementations -------------------------------------------------------------------
    def emit(self, transcript: Transcript) -> None:
        self._events.put_nowait(transcript)

    def fail(self, error: ProviderError) -> None:
        self._events.put_nowait(error)

    def end(self) -> None:
        self._events.put_nowait(None)

    @abstractmethod
    async def _send(self, pcm: bytes) -> None: ...

    @abstractmethod
    async def _finalize(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...


class SttStage(ABC):
    """What the pipeline holds for speech-to-text: something that opens a transcript stream."""

    name = "stt"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @abstractmethod
    async def open(self, sample_rate: int, language: str, meter: Meter) -> TranscriptStream: ...

    async def reserve(self) -> None:
        """Admission: take what a stream will need before the call is answered (the sample rate is
        not known yet, so the stream itself opens later). Raises when there is no room."""
        return None  # most providers need nothing held in advance

    async def unreserve(self) -> None:
        """Give back a reservation no stream took (the call ended before it started)."""
        return None


class Stt(SttStage):
    """A provider: the base owns the connect timeout and usage; the provider implements `_open`."""

    async def open(self, sample_rate: int, language: str, meter: Meter) -> SttStream:
        usage = meter.line("stt", self.name, self.config.model)
        usage.requests += 1
        try:
            async with asyncio.timeout(self.config.connect_timeout_s):
                return await self._open(sample_rate, language, usage)
        except TimeoutError as exc:
            usage.errors += 1
            raise ProviderTimeout(self.name, "connect timed out") from exc
        except ProviderError:
            usage.errors += 1
            raise

    @abstractmethod
    async def _open(self, sample_rate: int, language: str, usage: Usage) -> SttStream: ...


class FallbackStt(SttStage):
    """Providers in order; on any failure the next one takes over the stream, within the turn."""

    name = "fallback"

    def __init__(self, providers: list[SttStage], on_error: ErrorSink | None = None) -> None:
        if not providers:
            raise ValueError("a fallback list needs at least one provider")
        super().__init__(providers[0].config)
        self.providers = providers
        self.on_error = on_error or (lambda stage, error: None)
        self.first = 0  # the provider a stream starts with: the first one with room at admission

    async def reserve(self) -> None:
        """Reserve with the first provider that has room; raises the last refusal if none has."""
        error: ProviderError | None = None
        for index, provider in enumerate(self.providers):
            try:
                await provider.reserve()
            except ProviderError as exc:
                self.on_error("stt", exc)
                error = exc
                continue
            self.first = index
            return
        raise error or ProviderClosed("fallback", "no provider left")

    async def unreserve(self) -> None:
        for provider in self.providers:
            await provider.unreserve()

    async def open(self, sample_rate: int, language: str, meter: Meter) -> TranscriptStream:
        stream = FallbackSttStream(self, sample_rate, language, meter)
        await stream.start()
        return stream


class FallbackSttStream(TranscriptStream):
    def __init__(self, owner: FallbackStt, sample_rate: int, language: str, meter: Meter) -> None:
        super().__init__("fallback", sample_rate)
        self.owner = owner
        self.language = language
        self.meter = meter
        self.index = owner.first - 1  # _next() moves on to the first provider to try
        self.inner: TranscriptStream | None = None
        self._replay: deque[bytes] = deque(maxlen=int(REPLAY_SECONDS * 50))
        self._sent_s = 0.0  # audio sent on this stream
        self._offset_s = 0.0  # where the current provider's audio starts in it (its replay's start)
        self.switches = 0
        self.last_switch_at: float | None = None

    @property
    def current(self) -> str:
        return self.owner.providers[self.index].name if self.index >= 0 else "none"

    async def start(self) -> None:
        await self._next(None)

    async def _next(self, error: ProviderError | None) -> None:
        if error is not None:
            self.owner.on_error("stt", error)
        while True:
            self.index += 1
            if self.index >= len(self.owner.providers):
                raise error or ProviderClosed("fallback", "no provider left")
            provider = self.owner.providers[self.index]
            try:
                inner = await provider.open(self.sample_rate, self.language, self.meter)
            except ProviderError as exc:
                self.owner.on_error("stt", exc)
                error = exc
                continue
            old, self.inner = self.inner, inner
            if old is not None:
                self.switches += 1
                self.last_switch_at = time.monotonic()
                await _quietly_close(old)
                self._offset_s = self._sent_s - sum(len(c) for c in self._replay) / 2 / self.sample_rate
                for chunk in list(self._replay):
                    await inner.send(chunk)
            return

    async def send(self, pcm: bytes) -> None:
        self._replay.append(pcm)
        self._sent_s += len(pcm) / 2 / self.sample_rate
        assert self.inner is not None
        try:
            await self.inner.send(pcm)
        except ProviderError as exc:
            await self._next(exc)  # the next provider is sent the replay, this chunk included

    async def finalize(self) -> None:
        while True:
            assert self.inner is not None
            try:
                await self.inner.finalize()
                return
            except ProviderError as exc:
                await self._next(exc)

    async def recv(self) -> Transcript | None:
        while True:
            assert self.inner is not None
            inner = self.inner
            try:
                item = await inner.recv()
            except ProviderError as exc:
                if inner is not self.inner:
                    continue  # a failure of a stream already replaced
                await self._next(exc)
                if self.inner is not None and self._replay:
                    await self.inner.finalize()  # the replayed utterance may already be over
                continue
            if inner is not self.inner:
                continue  # the tail of a stream already replaced
            if item is None and not self.closed:
                await self._next(ProviderClosed(inner.provider, "stream ended"))
                continue
            if item is not None and item.is_final:
                self._replay.clear()
            if item is not None and item.audio_end_s is not None:
                item = replace(item, audio_end_s=item.audio_end_s + self._offset_s)
            return item

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            if self.inner is not None:
                await _quietly_close(self.inner)


async def _quietly_close(stream: TranscriptStream) -> None:
    try:
        async with asyncio.timeout(2.0):
            await stream.aclose()
    except (ProviderError, TimeoutError, OSError):
        pass
