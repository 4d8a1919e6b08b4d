"""Provider prices as versioned, dated data, and the arithmetic that turns a call's usage into money.

Public surface: `load_catalog()` (the shipped `prices.json`), `Catalog`, `CatalogVersion`, `Price`;
`rate()` with `Markup`, giving a `Cost` of `CostItem`s; the errors.
"""

from voicegrid.catalog.errors import CatalogError, UnknownVersion
from voicegrid.catalog.prices import (
    Catalog,
    CatalogVersion,
    Price,
    load_catalog,
    parse_catalog,
    parse_prices,
    with_versions,
)
from voicegrid.catalog.rating import Cost, CostItem, Markup, rate

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogVersion",
    "Cost",
    "CostItem",
    "Markup",
    "Price",
    "UnknownVersion",
    "load_catalog",
    "parse_catalog",
    "parse_prices",
    "rate",
    "with_versions",
]
