"""Usage to money: a call's usage lines and telephony legs, rated under one catalog version.

Per item, amount = quantity x unit price, in USD to the micro-dollar (half-up). STT is rated per
minute of audio, TTS per thousand characters, an LLM per million tokens (cached prompt tokens at
their own price, the rest of the prompt at the input price, the reply at the output price), and
telephony per minute of the answered call, rounded up to the price's billing increment. A business's
negotiated prices come before the catalog's; a price nobody published leaves an item at zero marked
`unpriced`, so a gap in the catalog shows instead of hiding. A reseller's markup (a percentage and/or
an amount per call minute) turns the cost into the billable amount.
"""

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from voicegrid.catalog.prices import Catalog, CatalogVersion, Price

MICRO = Decimal("0.000001")
EMBEDDED = Price("*", "*", "*", "minute", Decimal(0), source="runs inside the platform")


@dataclass(frozen=True, slots=True)
class Markup:
    percent: Decimal = Decimal(0)
    per_minute: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class CostItem:
    component: str
    provider: str
    model: str | None
    quantity: Decimal
    unit: str
    unit_price: Decimal | None  # None: no price published for this use
    amount: Decimal
    promo: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "component": self.component,
            "provider": self.provider,
            "model": self.model,
            "quantity": float(self.quantity),
            "unit": self.unit,
            "unit_price": None if self.unit_price is None else float(self.unit_price),
            "amount": float(self.amount),
        }
        if self.promo:
            out["promo"] = True
        if self.unit_price is None:
            out["unpriced"] = True
        return out


@dataclass(frozen=True, slots=True)
class Cost:
    currency: str
    version: str
    items: tuple[CostItem, ...]
    total: Decimal
    billable_total: Decimal
    minutes: Decimal = field(default=Decimal(0))  # the call's billed minutes (markup per minute)

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "catalog_version": self.version,
            "total": float(self.total),
            "billable_total": float(self.billable_total),
            "items": [item.as_dict() for item in self.items],
        }


def _money(value: Decimal) -> Decimal:
    return value.quantize(MICRO, rounding=ROUND_HALF_UP)


class Rater:
    def __init__(self, catalog: Catalog, version: CatalogVersion, negotiated: tuple[Price, ...] = ()) -> None:
        self.catalog, self.version, self.negotiated = catalog, version, negotiated

    def price(self, component: str, provider: str, model: str | None, unit: str) -> Price | None:
        own = CatalogVersion("negotiated", self.version.effective, self.negotiated)
        found = own.find(component, provider, model, unit) or self.version.find(
            component, provider, model, unit
        )
        if found is None and provider in self.catalog.embedded:
            return EMBEDDED
        return found

    def item(
        self, component: str, provider: str, model: str | None, quantity: Decimal, unit: str
    ) -> CostItem:
        return _priced(
            self.price(component, provider, model, unit), component, provider, model, quantity, unit
        )

    def usage(self, line: dict[str, Any]) -> list[CostItem]:
        stage, provider, model = str(line["stage"]), str(line["provider"]), line.get("model")
        if stage == "stt":
            minutes = Decimal(str(line.get("audio_seconds", 0))) / 60
            return [self.item("stt", provider, model, minutes, "minute")]
        if stage == "tts":
            return [
                self.item("tts", provider, model, Decimal(int(line.get("characters", 0))) / 1000, "1k_chars")
            ]
        if stage == "llm":
            cached = int(line.get("tokens_cached", 0))
            prompt = max(0, int(line.get("tokens_in", 0)) - cached)
            million = Decimal(1_000_000)
            items = [self.item("llm", provider, model, Decimal(prompt) / million, "1m_tokens_in")]
            if cached:
                items.append(self.item("llm", provider, model, Decimal(cached) / million, "1m_tokens_cached"))
            items.append(
                self.item(
                    "llm", provider, model, Decimal(int(line.get("tokens_out", 0))) / million, "1m_tokens_out"
                )
            )
            return items
        return []

    def telephony(self, direction: str, seconds: float, carrier: str = "sip") -> tuple[CostItem, Decimal]:
        """The call's minutes on the trunk, rounded up to the billing increment; also returns them."""
        price = self.price("telephony", carrier, direction, "minute")
        increment = price.increment_s if price is not None else 1
        billed = Decimal(math.ceil(max(0.0, seconds) / increment) * increment) / 60
        return _priced(price, "telephony", carrier, direction, billed, "minute"), billed


def _priced(
    price: Price | None, component: str, provider: str, model: str | None, quantity: Decimal, unit: str
) -> CostItem:
    if price is None:
        return CostItem(component, provider, model, quantity, unit, None, Decimal(0))
    amount = _money(quantity * price.unit_price)
    return CostItem(component, provider, model, quantity, unit, price.unit_price, amount, price.promo)


def rate(
    catalog: Catalog,
    usage: list[dict[str, Any]],
    *,
    direction: str,
    answered_seconds: float,
    version: str | None = None,
    on: date | None = None,
    negotiated: tuple[Price, ...] = (),
    markup: Markup | None = None,
    carrier: str = "sip",
) -> Cost:
    """Rate one call under `version`, or else the version in effect `on` the call's day (default:
    the newest). Re-rating is the same call with another version. `carrier` prices the call's leg:
    `sip` (a trunk), `twilio` or `telnyx` (their media streams), `browser` (no carrier)."""
    chosen = catalog.version(version) if version is not None or on is None else catalog.at(on)
    rater = Rater(catalog, chosen, negotiated)
    items = [item for line in usage for item in rater.usage(line)]
    leg, minutes = rater.telephony(direction, answered_seconds, carrier)
    items.append(leg)
    total = sum((item.amount for item in items), Decimal(0))
    markup = markup or Markup()
    billable = _money(total * (1 + markup.percent / 100) + markup.per_minute * minutes)
    return Cost(catalog.currency, rater.version.version, tuple(items), _money(total), billable, minutes)
