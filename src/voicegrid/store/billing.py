"""What a business's calls are rated with: its negotiated prices, its reseller's markup, and the
catalog versions the platform published beside the shipped ones."""

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
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
    """Read as one row, the business joined to its reseller: every call's record reads it, and two
    ORM loads cost about 1.6 times as much (an unknown business: catalog prices, unmasked)."""
    query = (
        select(Business.negotiated_rates, Business.mask_pii, Business.webhook_url, Reseller.markup)
        .outerjoin(Reseller, Reseller.id == Business.reseller_id)
        .where(Business.id == business_id)
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return Billing()
    negotiated, mask_pii, webhook_url, markup = row
    return Billing(
        parse_prices(negotiated or [], "negotiated_rates"),
        markup_from(markup),
        bool(mask_pii),
        webhook_url,
    )


async def published_versions(session: AsyncSession) -> list[Any]:
    row = await session.get(PlatformSetting, CATALOG_SETTING)
    return list(json.loads(row.value)) if row is not None else []


async def full_catalog(session: AsyncSession, shipped: Catalog) -> Catalog:
    return with_versions(shipped, await published_versions(session))
