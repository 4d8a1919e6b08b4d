"""What an agent's calls would have cost on the other stacks in the catalog.

The agent's recorded usage is re-rated with one stage's provider swapped for each alternative the
catalog prices (the same minutes of audio, characters and tokens: what the caller said and heard does
not depend on the vendor). The difference is scaled to a month at the agent's observed volume. Where
both providers have measured waits in the provider rollups (first token, first audio, STT final), the
expected latency change is the difference of their p50s; otherwise it says it has no measurement.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from voicegrid.catalog import Catalog, rate

STAGES = ("stt", "llm", "tts")
UNIT_OF = {"stt": "minute", "tts": "1k_chars", "llm": "1m_tokens_out"}


@dataclass(frozen=True, slots=True)
class Recommendation:
    stage: str
    current: str  # provider/model
    alternative: str
    monthly_change: Decimal  # negative: saves
    latency_change_ms: float | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "current": self.current,
            "alternative": self.alternative,
            "monthly_change": float(self.monthly_change),
            "latency_change_ms": self.latency_change_ms,
            "text": self.text,
        }


def alternatives(catalog: Catalog, on: date, stage: str) -> list[tuple[str, str]]:
    """(provider, model) pairs the catalog prices for a stage, a literal model for each pattern."""
    version = catalog.at(on)
    seen: list[tuple[str, str]] = []
    for price in version.prices:
        if price.component == stage and price.unit == UNIT_OF[stage]:
            pair = (price.provider, price.model.rstrip("*") or "default")
            if pair not in seen:
                seen.append(pair)
    return seen


def _label(provider: str, model: str | None) -> str:
    return f"{provider} {model}" if model and model != "default" else provider


def _cost(
    catalog: Catalog, records: list[dict[str, Any]], stage: str, provider: str, model: str | None, on: date
) -> Decimal:
    """The records' provider cost with `stage` served by `provider` and `model` (telephony left out)."""
    total = Decimal(0)
    for record in records:
        usage = [
            {**u, "provider": provider, "model": model} if u.get("stage") == stage else u
            for u in record.get("usage", [])
        ]
        total += rate(
            catalog, usage, direction=record.get("direction") or "inbound", answered_seconds=0, on=on
        ).total
    return total


def _most_used(lines: list[dict[str, Any]]) -> tuple[str, str | None]:
    counts: dict[tuple[str, str | None], int] = {}
    for u in lines:
        key = (str(u["provider"]), u.get("model"))
        counts[key] = counts.get(key, 0) + 1
    return max(counts, key=lambda k: counts[k])


def recommend(
    catalog: Catalog,
    records: list[dict[str, Any]],
    *,
    days: float,
    waits_ms: dict[tuple[str, str], float],
    on: date,
) -> list[Recommendation]:
    """Cheaper (or faster) stacks for the agent whose `records` cover `days` days, best saving first."""
    if not records or days <= 0:
        return []
    scale = Decimal(30) / Decimal(str(days))
    out: list[Recommendation] = []
    for stage in STAGES:
        lines = [u for r in records for u in r.get("usage", []) if u.get("stage") == stage]
        if not lines:
            continue
        current = _most_used(lines)
        base = _cost(catalog, records, stage, *current, on)
        for provider, model in alternatives(catalog, on, stage):
            if (provider, model) == current or (provider == current[0] and model == "default"):
                continue
            change = ((_cost(catalog, records, stage, provider, model, on) - base) * scale).quantize(
                Decimal("0.01")
            )
            a, b = waits_ms.get((stage, current[0])), waits_ms.get((stage, provider))
            latency = None if a is None or b is None or provider == current[0] else round(b - a, 1)
            saying = f"{'saves' if change < 0 else 'costs'} ${abs(change)} a month at your volume"
            when = "no latency measured for both" if latency is None else f"{latency:+.0f} ms wait"
            text = f"{_label(provider, model)} instead of {_label(*current)}: {saying}, {when}"
            out.append(
                Recommendation(stage, _label(*current), _label(provider, model), change, latency, text)
            )
    return sorted(out, key=lambda r: r.monthly_change)
