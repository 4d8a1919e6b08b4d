"""What a business's calls are rated with: its negotiated prices, its reseller's markup, and the
catalog versions the platform published beside the shipped ones."""

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.catalog import Catalog, CatalogError, Markup, Price, parse_prices, with_versions
from voicegrid.store.models import Business, PlatformSetting, Reseller

CATALOG_SETTING = "catalog_versions"


@dataclass(frozen=True, slots=True)
class Billing:
    """What a business's call records are made with: its rates, its reseller's markup, whether
    personal numbers are masked in its transcripts, and where its call events go."""

    negotiated: tuple[Price, ...] = ()
    markup: Markup = field(default_factory=Markup)
    mask_pii: bool = False
    webhook_url: str | None = None


def markup_from(data: dict[str, Any] | None) -> Markup:
    if not data:
        return Markup()
    try:
        return Markup(Decimal(str(data.get("percent", "0"))), Decimal(str(data.get("per_minute", "0"))))
    except InvalidOperation:
        raise CatalogError("markup: percent and per_minute are numbers") from None


async def billing_of(session: AsyncSession, business_id: str) -> Billing:
    business = await session.get(Business, business_id)
    if business is None:
        return Billing()
    reseller = await session.get(Reseller, business.reseller_id)
    return Billing(
        parse_prices(business.negotiated_rates or [], "negotiated_rates"),
        markup_from(reseller.markup if reseller is not None else None),
        bool(business.mask_pii),
        business.webhook_url,
    )


async def published_versions(session: AsyncSession) -> list[Any]:
    row = await session.get(PlatformSetting, CATALOG_SETTING)
    return list(json.loads(row.value)) if row is not None else []


async def full_catalog(session: AsyncSession, shipped: Catalog) -> Catalog:
    return with_versions(shipped, await published_versions(session))
