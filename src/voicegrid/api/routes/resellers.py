"""Resellers (white-label partners): the platform's tenants of the first level, and their branding."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import EmailStr, Field
from sqlalchemy import func, select

from voicegrid.api import audit
from voicegrid.api.context import Ctx, CtxDep
from voicegrid.api.owners import IdPath
from voicegrid.api.pagination import Page, PageParams, fetch_page, page_params
from voicegrid.api.schemas import Color, Domain, HttpUrlText, In, LimitsBody, Name, Out, TenantOut
from voicegrid.core.ids import new_id
from voicegrid.store.models import Business, Reseller
from voicegrid.tenancy import Action, Conflict, InvalidInput, NotFound, authorize_platform, authorize_reseller

router = APIRouter(prefix="/v1/resellers", tags=["resellers"])


class Branding(In):
    product_name: Name | None = None
    logo_url: HttpUrlText | None = None
    primary_color: Color | None = None
    accent_color: Color | None = None
    support_email: EmailStr | None = None
    dashboard_domain: Domain | None = None


class BrandingOut(Out):
    product_name: str | None
    logo_url: str | None
    primary_color: str | None
    accent_color: str | None
    support_email: str | None
    dashboard_domain: str | None


class ResellerCreate(Branding):
    name: Name
    enabled: bool = True
    limits: LimitsBody = Field(default_factory=LimitsBody)


class ResellerUpdate(Branding):
    name: Name | None = None
    enabled: bool | None = None


class ResellerOut(BrandingOut, TenantOut):
    pass


async def check_domain_free(ctx: Ctx, domain: str | None, reseller_id: str | None) -> None:
    if domain is None:
        return
    taken = await ctx.session.scalar(select(Reseller.id).where(Reseller.dashboard_domain == domain))
    if taken is not None and taken != reseller_id:
        raise Conflict(f"dashboard_domain {domain} is already in use")


async def apply_update(ctx: Ctx, reseller: Reseller, given: dict[str, Any]) -> None:
    for name in ("name", "enabled"):
        if name in given and given[name] is None:
            raise InvalidInput(name, "may not be null")
    if "support_email" in given and given["support_email"] is not None:
        given["support_email"] = str(given["support_email"])
    await check_domain_free(ctx, given.get("dashboard_domain"), reseller.id)
    for name, value in given.items():
        setattr(reseller, name, value)


@router.get("", response_model=Page[ResellerOut])
async def list_resellers(ctx: CtxDep, page: Annotated[PageParams, Depends(page_params)]) -> Any:
    authorize_platform(ctx.principal, Action.READ)
    rows, cursor = await fetch_page(ctx.session, select(Reseller), Reseller.id, page)
    return {"items": rows, "next_cursor": cursor}


@router.post("", response_model=ResellerOut, status_code=201)
async def create_reseller(body: ResellerCreate, ctx: CtxDep) -> Any:
    authorize_platform(ctx.principal, Action.WRITE)
    given = body.model_dump(exclude={"limits"})
    reseller = Reseller(id=new_id("rsl"), **body.limits.model_dump())
    await apply_update(ctx, reseller, given)
    ctx.session.add(reseller)
    await ctx.session.flush()
    audit.record(
        ctx,
        "create",
        "resellers",
        reseller.id,
        business_id=None,
        reseller_id=reseller.id,
        changes=body.model_dump(mode="json"),
    )
    await ctx.session.commit()
    return reseller


async def _load(ctx: Ctx, reseller_id: str, action: Action) -> Reseller:
    authorize_reseller(ctx.principal, reseller_id, action)
    reseller = await ctx.session.get(Reseller, reseller_id)
    if reseller is None:
        raise NotFound()
    return reseller


@router.get("/{reseller_id}", response_model=ResellerOut)
async def get_reseller(reseller_id: IdPath, ctx: CtxDep) -> Any:
    return await _load(ctx, reseller_id, Action.READ)


@router.patch("/{reseller_id}", response_model=ResellerOut)
async def update_reseller(reseller_id: IdPath, body: ResellerUpdate, ctx: CtxDep) -> Any:
    reseller = await _load(ctx, reseller_id, Action.WRITE)
    given = body.model_dump(exclude_unset=True)
    await apply_update(ctx, reseller, given)
    audit.record(
        ctx,
        "update",
        "resellers",
        reseller.id,
        business_id=None,
        reseller_id=reseller.id,
        changes=body.model_dump(mode="json", exclude_unset=True),
    )
    await ctx.session.commit()
    await ctx.session.refresh(reseller)
    return reseller


@router.delete("/{reseller_id}", status_code=204, response_class=Response)
async def delete_reseller(reseller_id: IdPath, ctx: CtxDep) -> Response:
    reseller = await _load(ctx, reseller_id, Action.WRITE)
    count = await ctx.session.scalar(select(func.count()).where(Business.reseller_id == reseller_id))
    if count:
        raise Conflict(f"the reseller still has {count} business(es); delete or move them first")
    await ctx.session.delete(reseller)
    audit.record(ctx, "delete", "resellers", reseller_id, business_id=None, reseller_id=reseller_id)
    await ctx.session.commit()
    return Response(status_code=204)
