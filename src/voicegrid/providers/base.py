"""What every provider shares: its configuration, the call's usage meter, and latency sampling."""

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider choice of an agent, resolved: name, model, credentials and limits."""

    provider: str
    model: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
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
