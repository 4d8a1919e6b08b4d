"""Quotas of a business or a reseller; a reseller's bound the sum of its businesses'."""

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from voicegrid.api import audit
from voicegrid.api.context import Ctx, CtxDep
from voicegrid.api.owners import IdPath, business_owner, own_owner, reseller_owner
from voicegrid.api.schemas import LimitsBody, LimitsOut
from voicegrid.store.models import Business, Reseller
from voicegrid.tenancy import Action, Forbidden, Limits, NotFound, Scope, check_sum_within
from voicegrid.tenancy.limits import LIMIT_FIELDS

router = APIRouter(tags=["limits"])


def limits_of(row: Business | Reseller) -> Limits:
    return Limits(**{name: getattr(row, name) for name in LIMIT_FIELDS})


async def check_business_limits(ctx: Ctx, reseller_id: str, business_id: str | None, new: Limits) -> None:
    """Raise Conflict unless the reseller's limits still cover its businesses with `new` in place."""
    reseller = await ctx.session.get(Reseller, reseller_id)
    if reseller is None:
        raise NotFound()
    others = await ctx.session.scalars(
        select(Business).where(Business.reseller_id == reseller_id, Business.id != (business_id or ""))
    )
    check_sum_within(limits_of(reseller), [limits_of(b) for b in others] + [new])


async def _business_put(ctx: Ctx, business_id: str, body: LimitsBody) -> dict[str, Any]:
    owner = await business_owner(ctx, business_id, "limits", Action.WRITE)
    business = await ctx.session.get(Business, business_id)
    if business is None or owner.reseller_id is None:
        raise NotFound()
    new = Limits(**body.model_dump())
    await check_business_limits(ctx, owner.reseller_id, business_id, new)
    for name, value in body.model_dump().items():
        setattr(business, name, value)
    audit.record(
        ctx,
        "update",
        "limits",
        business_id,
        business_id=business_id,
        reseller_id=owner.reseller_id,
        changes=body.model_dump(),
    )
    await ctx.session.commit()
    return body.model_dump()


async def _reseller_put(ctx: Ctx, reseller_id: str, body: LimitsBody) -> dict[str, Any]:
    await reseller_owner(ctx, reseller_id, "limits", Action.WRITE)
    if ctx.principal.scope is not Scope.PLATFORM:
        raise Forbidden("a reseller's limits are set by the platform")
    reseller = await ctx.session.get(Reseller, reseller_id)
    if reseller is None:
        raise NotFound()
    businesses = await ctx.session.scalars(select(Business).where(Business.reseller_id == reseller_id))
    check_sum_within(Limits(**body.model_dump()), [limits_of(b) for b in businesses])
    for name, value in body.model_dump().items():
        setattr(reseller, name, value)
    audit.record(
        ctx,
        "update",
        "limits",
        reseller_id,
        business_id=None,
        reseller_id=reseller_id,
        changes=body.model_dump(),
    )
    await ctx.session.commit()
    return body.model_dump()


@router.get("/v1/businesses/{business_id}/limits", response_model=LimitsOut)
async def get_business_limits(business_id: IdPath, ctx: CtxDep) -> Any:
    await business_owner(ctx, business_id, "limits", Action.READ)
    return await ctx.session.get(Business, business_id)


@router.put("/v1/businesses/{business_id}/limits", response_model=LimitsOut)
async def put_business_limits(business_id: IdPath, body: LimitsBody, ctx: CtxDep) -> Any:
    return await _business_put(ctx, business_id, body)


@router.get("/v1/resellers/{reseller_id}/limits", response_model=LimitsOut)
async def get_reseller_limits(reseller_id: IdPath, ctx: CtxDep) -> Any:
    await reseller_owner(ctx, reseller_id, "limits", Action.READ)
    return await ctx.session.get(Reseller, reseller_id)


@router.put("/v1/resellers/{reseller_id}/limits", response_model=LimitsOut)
async def put_reseller_limits(reseller_id: IdPath, body: LimitsBody, ctx: CtxDep) -> Any:
    return await _reseller_put(ctx, reseller_id, body)


@router.get(
    "/v1/limits", response_model=LimitsOut, summary="The caller's own business's or reseller's limits"
)
async def get_own_limits(ctx: CtxDep) -> Any:
    owner = await own_owner(ctx, "limits", Action.READ, business_only=False)
    if owner.scope is Scope.BUSINESS:
        return await ctx.session.get(Business, owner.business_id)
    if owner.scope is Scope.RESELLER:
        return await ctx.session.get(Reseller, owner.reseller_id)
    return LimitsOut(
        max_concurrent_calls=None, max_outbound_cps=None, monthly_minutes=None, reserved_inbound_calls=None
    )


@router.put("/v1/limits", response_model=LimitsOut, summary="Set the caller's own limits")
async def put_own_limits(body: LimitsBody, ctx: CtxDep) -> Any:
    """Limits are set from above, so this answers 403 to business and reseller keys alike."""
    owner = await own_owner(ctx, "limits", Action.WRITE, business_only=False)
    if owner.scope is Scope.BUSINESS and owner.business_id:
        return await _business_put(ctx, owner.business_id, body)
    if owner.scope is Scope.RESELLER and owner.reseller_id:
        return await _reseller_put(ctx, owner.reseller_id, body)
    raise NotFound("the platform has no limits of its own; set a reseller's or a business's")
