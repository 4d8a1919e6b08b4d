"""What every provider shares: its configuration, the call's usage meter, and latency sampling."""

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from voicegrid.core.egress import STRICT, Destinations
from voicegrid.providers.errors import ProviderAuthError, ProviderConnectError, ProviderError, ProviderTimeout

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider choice of an agent, resolved: name, model, credentials and limits."""

    provider: str
    model: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    destinations: Destinations = STRICT  # where base_url may lead: the platform's one policy
    connect_timeout_s: float = 3.0
    first_byte_timeout_s: float = 4.0  # from request to first token / audio / transcript
    idle_timeout_s: float = 10.0  # between chunks once the answer has started

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


@dataclass(slots=True)
class Usage:
    """What one provider was used for on one call, in the units it bills."""

    stage: str
    provider: str
    model: str | None
    audio_seconds: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    characters: int = 0
    requests: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "provider": self.provider,
            "model": self.model,
            "audio_seconds": round(self.audio_seconds, 3),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens_cached": self.tokens_cached,
            "characters": self.characters,
            "requests": self.requests,
            "errors": self.errors,
        }


class Meter:
    """A call's usage, one line per (stage, provider, model)."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str, str, str | None], Usage] = {}

    def line(self, stage: str, provider: str, model: str | None) -> Usage:
        key = (stage, provider, model)
        usage = self._lines.get(key)
        if usage is None:
            usage = self._lines[key] = Usage(stage, provider, model)
        return usage

    def lines(self) -> list[Usage]:
        return list(self._lines.values())


def sample_latency_s(options: dict[str, Any], name: str, default_ms: float, rng: random.Random) -> float:
    """A latency drawn from `<name>_ms` (median) and `<name>_jitter_ms` (spread), never negative.

    The spread is log-normal, as measured service latencies are: most answers near the median and a
    long tail to the right.
    """
    median = float(options.get(f"{name}_ms", default_ms))
    jitter = float(options.get(f"{name}_jitter_ms", 0.0))
    if median <= 0:
        return 0.0
    if jitter <= 0:
        return median / 1000
    sigma = min(2.0, jitter / median)
    return median * rng.lognormvariate(0.0, sigma) / 1000


async def timed(
    chunks: AsyncGenerator[T, None],
    config: ProviderConfig,
    provider: str,
    usage: Usage,
    what: str,
    started_by: Callable[[T], bool] = lambda chunk: True,
) -> AsyncGenerator[T, None]:
    """Yield `chunks` under the first-byte timeout until one `started_by` it, then the idle timeout.

    Failures are counted on `usage`; the source generator is always closed.
    """
    first = True
    try:
        while True:
            limit = config.first_byte_timeout_s if first else config.idle_timeout_s
            try:
                async with asyncio.timeout(limit):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                which = "first" if first else "next"
                raise ProviderTimeout(provider, f"no {which} {what} within {limit:.1f} s") from exc
            if first and started_by(chunk):
                first = False
            yield chunk
    except ProviderError:
        usage.errors += 1
        raise
    finally:
        await chunks.aclose()


class Failover(Generic[T]):
    """Providers in order of preference, tried in turn until one answers.

    Once one has started answering, its failure ends the answer (what was said stands). A provider
    that refuses our credentials is skipped for the rest of the call instead of failing every turn.
    """

    def __init__(self, stage: str, names: list[str], on_error: Callable[[str, ProviderError], None]) -> None:
        if not names:
            raise ValueError("a fallback list needs at least one provider")
        self.stage = stage
        self.names = names
        self.on_error = on_error
        self.dead: set[int] = set()
        self.last_used: str | None = None

    async def stream(
        self, attempts: Sequence[Callable[[], AsyncIterator[T]]], started_by: Callable[[T], bool]
    ) -> AsyncGenerator[T, None]:
        error: ProviderError | None = None
        for index, attempt in enumerate(attempts):
            if index in self.dead:
                continue
            started = False
            try:
                async for chunk in attempt():
                    if not started and started_by(chunk):
                        started = True
                        self.last_used = self.names[index]
                    yield chunk
                return
            except ProviderError as exc:
                self.on_error(self.stage, exc)
                if isinstance(exc, ProviderAuthError):
                    self.dead.add(index)
                if started:
                    raise
                error = exc
        raise error or ProviderConnectError(self.stage, "every provider of this stage has failed for good")
