"""Provider prices as versioned, dated data (`prices.json`, built from PROVIDER_FACTS.md).

A version is a set of prices effective from a date. A price names a component (stt, llm, tts,
telephony), a provider, a model pattern (`fnmatch`, `*` for the provider's default), a unit and a
unit price in USD (a decimal string, never a float), with its source; a promotional price carries
the regular one beside it. Lookups take the most specific pattern that matches.
"""

import fnmatch
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from voicegrid.catalog.errors import CatalogError, UnknownVersion

COMPONENTS = ("stt", "llm", "tts", "telephony", "platform")
UNITS = ("minute", "1k_chars", "1m_tokens_in", "1m_tokens_cached", "1m_tokens_out")


@dataclass(frozen=True, slots=True)
class Price:
    component: str
    provider: str
    model: str  # a pattern
    unit: str
    unit_price: Decimal
    source: str = ""
    promo: bool = False
    regular_price: Decimal | None = None
    increment_s: int = 1  # billing increment (telephony)

    def matches(self, component: str, provider: str, model: str | None, unit: str) -> bool:
        return (self.component, self.provider, self.unit) == (
            component,
            provider,
            unit,
        ) and fnmatch.fnmatchcase((model or "").lower(), self.model.lower())

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "component": self.component,
            "provider": self.provider,
            "model": self.model,
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "source": self.source,
            "promo": self.promo,
        }
        if self.regular_price is not None:
            out["regular_price"] = str(self.regular_price)
        if self.increment_s != 1:
            out["increment_s"] = self.increment_s
        return out


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    version: str
    effective: date
    prices: tuple[Price, ...]

    def find(self, component: str, provider: str, model: str | None, unit: str) -> Price | None:
        """The most specific price for this use: a literal model beats a pattern, longer beats shorter."""
        found = [p for p in self.prices if p.matches(component, provider, model, unit)]
        if not found:
            return None
        return max(found, key=lambda p: ("*" not in p.model, len(p.model.rstrip("*"))))


@dataclass(frozen=True, slots=True)
class Catalog:
    currency: str
    versions: tuple[CatalogVersion, ...]
    embedded: frozenset[str]  # engines that run inside the platform: no price per use

    def version(self, name: str | None = None) -> CatalogVersion:
        """A version by name; without one, the newest."""
        if name is None:
            return max(self.versions, key=lambda v: v.effective)
        for v in self.versions:
            if v.version == name:
                return v
        raise UnknownVersion(name, [v.version for v in self.versions])

    def at(self, day: date) -> CatalogVersion:
        """The version in effect on `day` (the oldest one for days before any)."""
        effective = [v for v in self.versions if v.effective <= day]
        if not effective:
            return min(self.versions, key=lambda v: v.effective)
        return max(effective, key=lambda v: v.effective)


def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise CatalogError(f"{where}: prices are decimal strings, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CatalogError(f"{where}: not a number: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise CatalogError(f"{where}: a price is a finite amount of at least zero")
    return number


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: an object is expected, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogError(f"{where}: a list is expected, got {type(value).__name__}")
    return value


def _price(item: dict[str, Any], at: str) -> Price:
    if item.get("component") not in COMPONENTS or item.get("unit") not in UNITS:
        raise CatalogError(f"{at}: component one of {COMPONENTS}, unit one of {UNITS}")
    provider, model, increment = item.get("provider"), item.get("model", "*"), item.get("increment_s", 1)
    if not isinstance(provider, str) or not provider or not isinstance(model, str):
        raise CatalogError(f"{at}: provider and model are text")
    if not isinstance(increment, int) or isinstance(increment, bool) or not 1 <= increment <= 3600:
        raise CatalogError(f"{at}: increment_s is a whole number of seconds, 1 to 3600")
    regular = item.get("regular_price")
    return Price(
        component=item["component"],
        provider=provider,
        model=model or "*",
        unit=item["unit"],
        unit_price=_decimal(item.get("unit_price"), at),
        source=str(item.get("source", "")),
        promo=item.get("promo") is True,
        regular_price=None if regular is None else _decimal(regular, at),
        increment_s=increment,
    )


def parse_catalog(data: Any) -> Catalog:
    """Validate and build a catalog from its JSON form; raises CatalogError saying where it is wrong."""
    data = _object(data, "catalog")
    versions = []
    for i, raw in enumerate(_list(data.get("versions"), "versions")):
        where = f"versions[{i}]"
        raw = _object(raw, where)
        try:
            effective = date.fromisoformat(raw["effective"])
        except (KeyError, TypeError, ValueError):
            raise CatalogError(f"{where}: needs an ISO `effective` date") from None
        name = raw.get("version")
        if not isinstance(name, str) or not name:
            raise CatalogError(f"{where}: needs a `version` name")
        items = _list(raw.get("items"), f"{where}.items")
        prices = tuple(
            _price(_object(item, f"{where}.items[{j}]"), f"{where}.items[{j}]")
            for j, item in enumerate(items)
        )
        versions.append(CatalogVersion(name, effective, prices))
    if not versions:
        raise CatalogError("a catalog needs at least one version")
    if len({v.version for v in versions}) != len(versions):
        raise CatalogError("version names must be unique")
    embedded = _list(data.get("embedded"), "embedded")
    if not all(isinstance(e, str) for e in embedded):
        raise CatalogError("embedded: a list of provider names")
    currency = data.get("currency", "USD")
    if not isinstance(currency, str) or len(currency) != 3:
        raise CatalogError("currency: a three-letter code")
    return Catalog(currency, tuple(versions), frozenset(embedded))


def parse_prices(items: Any, where: str = "rates") -> tuple[Price, ...]:
    """A list of prices in the catalog's form (a business's negotiated rates); CatalogError if not."""
    return tuple(
        _price(_object(item, f"{where}[{j}]"), f"{where}[{j}]") for j, item in enumerate(_list(items, where))
    )


def with_versions(catalog: Catalog, versions: list[Any]) -> Catalog:
    """The catalog plus versions the platform published (their names may not repeat shipped ones)."""
    if not versions:
        return catalog
    extra = parse_catalog({"currency": catalog.currency, "versions": versions})
    names = {v.version for v in catalog.versions}
    clash = [v.version for v in extra.versions if v.version in names]
    if clash:
        raise CatalogError(f"version {clash[0]!r} exists already; publish a new name")
    return Catalog(catalog.currency, catalog.versions + extra.versions, catalog.embedded)


def load_catalog() -> Catalog:
    """The catalog shipped with voicegrid."""
    text = resources.files("voicegrid.catalog").joinpath("prices.json").read_text(encoding="utf-8")
    return parse_catalog(json.loads(text))
