"""Money and privacy of call records: the price catalog (shipped versions, and versions the platform
publishes), a business's negotiated rates (reseller or platform admins set them), a reseller's markup
(the platform sets it), and a business's retention and PII masking (its own admins set them).

Rates and markup apply to calls that end from then on; a past call is re-rated on request
(`GET /calls/{id}/cost?catalog_version=`), never rewritten.
"""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.api import audit
from voicegrid.api.context import Ctx, CtxDep
from voicegrid.api.owners import IdPath, business_owner, platform_only, reseller_owner
from voicegrid.api.routes.agents import LLM_PROVIDERS, STT_PROVIDERS, TTS_PROVIDERS
from voicegrid.api.schemas import In, Out
from voicegrid.catalog import Catalog, load_catalog, parse_prices, with_versions
from voicegrid.catalog.per_minute import per_minute
from voicegrid.core.clock import utcnow
from voicegrid.store.billing import CATALOG_SETTING, full_catalog, markup_from, published_versions
from voicegrid.store.models import Business, PlatformSetting, Reseller
from voicegrid.tenancy import Action, Forbidden, NotFound, Role, Scope

router = APIRouter(tags=["billing"])


class RatesBody(In):
    rates: list[dict[str, Any]] = Field(
        max_length=200,
        description="prices in the catalog's form: component, provider, model, unit, unit_price (text)",
    )


class RatesOut(Out):
    items: list[dict[str, Any]] = Field(description="the business's negotiated prices, in the order set")
    next_cursor: str | None = Field(default=None, description="always null: the whole list is one page")
    rates: list[dict[str, Any]] = Field(deprecated=True, description="the same as `items`, until 2027-06")


class MarkupBody(In):
    percent: Decimal = Field(default=Decimal(0), ge=0, le=1000)
    per_minute: Decimal = Field(default=Decimal(0), ge=0, le=100, description="USD per billed call minute")


class MarkupOut(Out):
    percent: str
    per_minute: str


class VersionBody(In):
    version: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")
    effective: str = Field(description="ISO date the prices apply from")
    items: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class CatalogOut(Out):
    currency: str
    versions: list[dict[str, Any]]


def render_catalog(catalog: Catalog) -> CatalogOut:
    return CatalogOut(
        currency=catalog.currency,
        versions=[
            {
                "version": v.version,
                "effective": v.effective.isoformat(),
                "items": [p.as_dict() for p in v.prices],
            }
            for v in sorted(catalog.versions, key=lambda v: v.effective)
        ],
    )


async def current_catalog(ctx: Ctx) -> Catalog:
    records = ctx.services.records
    if records is not None:
        return records.catalog
    return await full_catalog(ctx.session, load_catalog())


async def _business(ctx: Ctx, business_id: str, kind: str) -> Business:
    """The business, once the caller may read its `kind` of settings."""
    await business_owner(ctx, business_id, kind, Action.READ)
    business = await ctx.session.get(Business, business_id)
    assert business is not None  # business_owner found it
    return business


async def _update_business(
    ctx: Ctx, business_id: str, kind: str, resource: str, body: In, apply: Callable[[Business], None]
) -> Business:
    """Apply a change to the business's `kind` of settings, audited, once the caller may make it."""
    owner = await business_owner(ctx, business_id, kind, Action.WRITE)
    business = await ctx.session.get(Business, business_id)
    assert business is not None
    apply(business)
    audit.record(
        ctx,
        "update",
        resource,
        business_id,
        business_id=business_id,
        reseller_id=owner.reseller_id,
        changes=body.model_dump(),
    )
    await ctx.session.commit()
    return business


@router.get(
    "/v1/businesses/{business_id}/rates", response_model=RatesOut, summary="A business's negotiated rates"
)
async def get_rates(business_id: IdPath, ctx: CtxDep) -> Any:
    business = await _business(ctx, business_id, "limits")
    rates = list(business.negotiated_rates or [])
    return RatesOut(items=rates, rates=rates)


@router.put("/v1/businesses/{business_id}/rates", response_model=RatesOut, summary="Set a business's rates")
async def put_rates(business_id: IdPath, body: RatesBody, ctx: CtxDep) -> Any:
    def apply(business: Business) -> None:
        parse_prices(body.rates, "rates")  # after the access check; CatalogError -> 422 saying which item
        business.negotiated_rates = body.rates

    await _update_business(ctx, business_id, "limits", "rates", body, apply)
    return RatesOut(items=body.rates, rates=body.rates)


def _markup_out(data: dict[str, Any] | None) -> MarkupOut:
    markup = markup_from(data)
    return MarkupOut(percent=str(markup.percent), per_minute=str(markup.per_minute))


@router.get("/v1/resellers/{reseller_id}/markup", response_model=MarkupOut, summary="A reseller's markup")
async def get_markup(reseller_id: IdPath, ctx: CtxDep) -> Any:
    await reseller_owner(ctx, reseller_id, "limits", Action.READ)
    reseller = await ctx.session.get(Reseller, reseller_id)
    assert reseller is not None
    return _markup_out(reseller.markup)


@router.put("/v1/resellers/{reseller_id}/markup", response_model=MarkupOut, summary="Set a reseller's markup")
async def put_markup(reseller_id: IdPath, body: MarkupBody, ctx: CtxDep) -> Any:
    await reseller_owner(ctx, reseller_id, "limits", Action.WRITE)
    if ctx.principal.scope is not Scope.PLATFORM:
        raise Forbidden("a reseller's markup is set by the platform")
    reseller = await ctx.session.get(Reseller, reseller_id)
    if reseller is None:
        raise NotFound()
    reseller.markup = {"percent": str(body.percent), "per_minute": str(body.per_minute)}
    audit.record(
        ctx,
        "update",
        "markup",
        reseller_id,
        business_id=None,
        reseller_id=reseller_id,
        changes=reseller.markup,
    )
    await ctx.session.commit()
    return _markup_out(reseller.markup)


@router.get("/v1/catalog", response_model=CatalogOut, summary="Provider prices, every version")
async def get_catalog(ctx: CtxDep) -> Any:
    return render_catalog(await current_catalog(ctx))


class MinutePriceOut(Out):
    stage: str
    provider: str
    model: str = Field(description="the catalog's model pattern; * is every model not named otherwise")
    per_minute: str = Field(description="USD for a typical call-minute (an estimate: see `basis`)")


class PerMinuteOut(Out):
    basis: str
    items: list[MinutePriceOut]
    next_cursor: str | None = None


@router.get("/v1/catalog/per-minute", response_model=PerMinuteOut, summary="Price of a minute by provider")
async def get_per_minute(ctx: CtxDep) -> PerMinuteOut:
    offered = {"stt": STT_PROVIDERS, "llm": LLM_PROVIDERS, "tts": TTS_PROVIDERS}
    prices = per_minute(await current_catalog(ctx), utcnow().date(), offered)
    return PerMinuteOut(
        basis="60 s heard; 6,000 LLM tokens in and 250 out; 450 characters spoken (PROVIDER_FACTS 4.7)",
        items=[
            MinutePriceOut(stage=p.stage, provider=p.provider, model=p.model, per_minute=str(p.per_minute))
            for p in prices
        ],
    )


@router.post(
    "/v1/catalog/versions", response_model=CatalogOut, status_code=201, summary="Publish a price version"
)
async def publish_version(body: VersionBody, ctx: CtxDep) -> Any:
    platform_only(ctx, Role.ADMIN, "the price catalog")
    published = await published_versions(ctx.session)
    version = body.model_dump()
    catalog = with_versions(load_catalog(), [*published, version])  # CatalogError -> 422
    row = await ctx.session.get(PlatformSetting, CATALOG_SETTING)
    value = json.dumps([*published, version])
    if row is None:
        ctx.session.add(PlatformSetting(key=CATALOG_SETTING, value=value))
    else:
        row.value = value
    audit.record(ctx, "create", "catalog", body.version, business_id=None, reseller_id=None, changes=version)
    await ctx.session.commit()
    if ctx.services.records is not None:
        ctx.services.records.catalog = catalog
    return render_catalog(catalog)


class PrivacyBody(In):
    retention_days: int | None = Field(
        default=None, ge=1, le=3650, description="days transcripts and recordings are kept; absent: kept"
    )
    mask_pii: bool = Field(default=False, description="mask card and phone numbers in transcripts")


class PrivacyOut(Out):
    retention_days: int | None
    mask_pii: bool


@router.get(
    "/v1/businesses/{business_id}/privacy", response_model=PrivacyOut, summary="Retention and masking"
)
async def get_privacy(business_id: IdPath, ctx: CtxDep) -> Any:
    business = await _business(ctx, business_id, "privacy")
    return PrivacyOut(retention_days=business.retention_days, mask_pii=business.mask_pii)


@router.put(
    "/v1/businesses/{business_id}/privacy", response_model=PrivacyOut, summary="Set retention and masking"
)
async def put_privacy(business_id: IdPath, body: PrivacyBody, ctx: CtxDep) -> Any:
    def apply(business: Business) -> None:
        business.retention_days, business.mask_pii = body.retention_days, body.mask_pii

    business = await _update_business(ctx, business_id, "privacy", "privacy", body, apply)
    return PrivacyOut(retention_days=business.retention_days, mask_pii=business.mask_pii)


class WebhookBody(In):
    url: str | None = Field(
        default=None, max_length=2000, pattern=r"^https?://", description="absent: no call events are sent"
    )


class WebhookOut(Out):
    url: str | None
    signing_key: str = Field(description="hex; checks X-Voicegrid-Signature of call events and tool webhooks")
    events: list[str]


def _webhook_out(ctx: Ctx, business: Business) -> WebhookOut:
    key = ctx.services.secrets.webhook_key(business.id)
    return WebhookOut(
        url=business.webhook_url,
        signing_key=key.hex(),
        events=["call.started", "call.ended", "call.analyzed"],
    )


@router.get("/v1/businesses/{business_id}/webhook", response_model=WebhookOut, summary="Where call events go")
async def get_webhook(business_id: IdPath, ctx: CtxDep) -> Any:
    return _webhook_out(ctx, await _business(ctx, business_id, "webhooks"))


@router.put(
    "/v1/businesses/{business_id}/webhook", response_model=WebhookOut, summary="Send call events here"
)
async def put_webhook(business_id: IdPath, body: WebhookBody, ctx: CtxDep) -> Any:
    def apply(business: Business) -> None:
        business.webhook_url = body.url

    business = await _update_business(ctx, business_id, "webhooks", "webhook", body, apply)
    return _webhook_out(ctx, business)


class DeliveryOut(Out):
    id: str
    event: str
    call_id: str | None
    url: str
    attempts: int
    next_attempt_at: str
    created_at: str
    last_status: int | None = Field(description="the endpoint's answer to the last attempt")
    last_error: str | None = Field(description="or why it could not answer")


class DeliveriesOut(Out):
    node: str | None = Field(description="each node sends the events of the calls it took")
    waiting: list[DeliveryOut] = Field(description="still to be sent, newest first")
    given_up: list[DeliveryOut] = Field(description="refused, or failed at every attempt (the last 500)")


class RetryOut(Out):
    retried: int


def _sender(ctx: Ctx) -> "WebhookSender | None":
    records = ctx.services.records
    return records.webhooks if records is not None else None


@router.get(
    "/v1/businesses/{business_id}/webhook/deliveries",
    response_model=DeliveriesOut,
    summary="Call events still to be sent (by any node), or given up",
)
async def get_deliveries(business_id: IdPath, ctx: CtxDep) -> Any:
    await _business(ctx, business_id, "webhooks")
    sender = _sender(ctx)
    node = ctx.services.records.node if ctx.services.records is not None else None
    found = await sender.delivery_log(business_id) if sender is not None else {"waiting": [], "given_up": []}
    return DeliveriesOut(node=node, **found)


@router.post(
    "/v1/businesses/{business_id}/webhook/deliveries/retry",
    response_model=RetryOut,
    status_code=202,
    summary="Send the waiting call events now, and the given-up ones once more",
)
async def retry_deliveries(business_id: IdPath, ctx: CtxDep) -> Any:
    owner = await business_owner(ctx, business_id, "webhooks", Action.WRITE)
    sender = _sender(ctx)
    retried = await sender.retry_now(business_id) if sender is not None else 0
    audit.record(
        ctx,
        "retry",
        "webhook",
        business_id,
        business_id=business_id,
        reseller_id=owner.reseller_id,
        changes={"retried": retried},
    )
    await ctx.session.commit()
    return RetryOut(retried=retried)
