"""What one call-minute costs with each provider and model, to show beside each choice.

An estimate, from the catalog's prices in effect and one minute's typical use (PROVIDER_FACTS.md
4.7's worked example): 60 s of audio heard; the LLM re-sent a 1.5k-token prompt over 4 turns (6,000
tokens in, 250 out); the agent speaking half the minute (450 characters). Embedded engines cost 0.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from voicegrid.catalog.prices import Catalog

TOKENS_IN = Decimal(6000)
TOKENS_OUT = Decimal(250)
CHARACTERS = Decimal(450)
STAGES = ("stt", "llm", "tts")


@dataclass(frozen=True, slots=True)
class MinutePrice:
    stage: str
    provider: str
    model: str  # the catalog's pattern ("*": every model not named otherwise)
    per_minute: Decimal


def per_minute(catalog: Catalog, on: date, offered: Mapping[str, Sequence[str]]) -> list[MinutePrice]:
    """Each stage's providers in `offered` (stage -> names) with their prices on `on`."""
    sums: dict[tuple[str, str, str], Decimal] = {}
    for price in catalog.at(on).prices:
        if price.component not in STAGES:
            continue
        used = {
            "minute": Decimal(1),
            "1k_chars": CHARACTERS / 1000,
            "1m_tokens_in": TOKENS_IN / 1_000_000,
            "1m_tokens_out": TOKENS_OUT / 1_000_000,
        }.get(price.unit)
        if used is None:
            continue  # cached tokens: the estimate assumes none
        key = (price.component, price.provider, price.model)
        sums[key] = sums.get(key, Decimal(0)) + price.unit_price * used
    out = [
        MinutePrice(s, p, m, v.quantize(Decimal("0.00001")))
        for (s, p, m), v in sums.items()
        if p in offered.get(s, ())
    ]
    out += [
        MinutePrice(s, name, "*", Decimal(0))
        for s in STAGES
        for name in offered.get(s, ())
        if name in catalog.embedded
    ]
    return sorted(out, key=lambda m: (m.stage, m.provider, m.model))
