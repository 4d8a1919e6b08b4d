"""Branding: a reseller's product name, logo and colours, shown to its businesses and on its domain."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from voicegrid.api import audit
from voicegrid.api.context import CtxDep
from voicegrid.api.routes.resellers import Branding, BrandingOut, apply_update
from voicegrid.store.models import Business, Reseller
from voicegrid.tenancy import Action, Forbidden, NotFound, Scope
from voicegrid.tenancy.policy import authorize_platform

router = APIRouter(tags=["branding"])

DEFAULT_BRANDING = BrandingOut(
    product_name="voicegrid",
    logo_url=None,
    primary_color="#2563eb",
    accent_color="#0f172a",
    support_email=None,
    dashboard_domain=None,
)


def _with_defaults(reseller: Reseller) -> BrandingOut:
    own = BrandingOut.model_validate(reseller).model_dump()
    base = DEFAULT_BRANDING.model_dump()
    return BrandingOut(**{k: own[k] if own[k] is not None else base[k] for k in base})


@router.get("/v1/branding", response_model=BrandingOut, summary="The branding the caller's users see")
async def get_branding(ctx: CtxDep) -> Any:
    p = ctx.principal
    if p.scope is Scope.PLATFORM:
        return DEFAULT_BRANDING
    reseller_id = p.reseller_id
    if p.scope is Scope.BUSINESS:
        business = await ctx.session.get(Business, p.business_id)
        reseller_id = business.reseller_id if business else None
    reseller = await ctx.session.get(Reseller, reseller_id) if reseller_id else None
    if reseller is None:
        raise NotFound()
    return _with_defaults(reseller)


@router.put("/v1/branding", response_model=BrandingOut, summary="Set a reseller's own branding")
async def put_branding(body: Branding, ctx: CtxDep) -> Any:
    p = ctx.principal
    if p.scope is Scope.PLATFORM:
        authorize_platform(p, Action.WRITE)
        raise NotFound(
            "the platform's branding is the default; set a reseller's with PATCH /v1/resellers/{id}"
        )
    if p.scope is not Scope.RESELLER or p.reseller_id is None:
        raise Forbidden("branding is set by the reseller")
    if not p.role.at_least(p.role.ADMIN):
        raise Forbidden("setting branding needs the admin role or above")
    reseller = await ctx.session.get(Reseller, p.reseller_id)
    if reseller is None:
        raise NotFound()
    given = body.model_dump()  # PUT replaces the whole branding
    await apply_update(ctx, reseller, given)
    audit.record(
        ctx,
        "update",
        "branding",
        reseller.id,
        business_id=None,
        reseller_id=reseller.id,
        changes=body.model_dump(mode="json"),
    )
    await ctx.session.commit()
    await ctx.session.refresh(reseller)
    return _with_defaults(reseller)


@router.get(
    "/v1/public/branding",
    response_model=BrandingOut,
    summary="Branding for a dashboard domain, before sign-in (no key needed)",
)
async def public_branding(
    request: Request, domain: Annotated[str | None, Query(max_length=253)] = None
) -> Any:
    host = (domain or request.headers.get("host", "")).split(":")[0].strip().lower()
    async with request.app.state.services.sessions() as session:
        reseller = await session.scalar(
            select(Reseller).where(Reseller.dashboard_domain == host, Reseller.enabled.is_(True))
        )
    return _with_defaults(reseller) if reseller is not None else DEFAULT_BRANDING
