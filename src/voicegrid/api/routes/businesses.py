"""Businesses: the tenants that own agents, numbers and trunks; created by a reseller or the platform."""

import asyncio
import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field
from sqlalchemy import select

from voicegrid.api import audit
from voicegrid.api.context import Ctx, CtxDep
from voicegrid.api.owners import IdPath
from voicegrid.api.pagination import Page, PageParams, fetch_page, page_params
from voicegrid.api.recordings import erase_from_objects
from voicegrid.api.routes.limits import check_business_limits
from voicegrid.api.schemas import In, LimitsBody, Name, TenantOut
from voicegrid.core.ids import new_id
from voicegrid.store.call_records import delete_business_records
from voicegrid.store.models import Business, Reseller
from voicegrid.tenancy import (
    Action,
    Forbidden,
    InvalidInput,
    Limits,
    NotFound,
    Role,
    Scope,
    authorize_business,
)

router = APIRouter(prefix="/v1/businesses", tags=["businesses"])


class BusinessCreate(In):
    name: Name
    reseller_id: str | None = Field(default=None, max_length=40, description="platform keys must name it")
    enabled: bool = True
    limits: LimitsBody = Field(default_factory=LimitsBody)


class BusinessUpdate(In):
    name: Name | None = None
    enabled: bool | None = None


class BusinessOut(TenantOut):
    reseller_id: str


@router.get("", response_model=Page[BusinessOut])
async def list_businesses(
    ctx: CtxDep,
    page: Annotated[PageParams, Depends(page_params)],
    reseller_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    p = ctx.principal
    stmt = select(Business)
    if p.scope is Scope.RESELLER:
        stmt = stmt.where(Business.reseller_id == p.reseller_id)
    elif p.scope is Scope.BUSINESS:
        stmt = stmt.where(Business.id == p.business_id)
    if reseller_id is not None:
        stmt = stmt.where(Business.reseller_id == reseller_id)
    rows, cursor = await fetch_page(ctx.session, stmt, Business.id, page)
    return {"items": rows, "next_cursor": cursor}


@router.post("", response_model=BusinessOut, status_code=201)
async def create_business(body: BusinessCreate, ctx: CtxDep) -> Any:
    p = ctx.principal
    if p.scope is Scope.BUSINESS:
        raise Forbidden("a business key cannot create businesses")
    if not p.role.at_least(Role.ADMIN):
        raise Forbidden("creating a business needs the admin role or above")
    reseller_id = body.reseller_id
    if p.scope is Scope.RESELLER:
        if reseller_id not in (None, p.reseller_id):
            raise NotFound("no such reseller")
        reseller_id = p.reseller_id
    if reseller_id is None:
        raise InvalidInput("reseller_id", "a platform key must say which reseller the business belongs to")
    if await ctx.session.get(Reseller, reseller_id) is None:
        raise NotFound("no such reseller")
    await check_business_limits(ctx, reseller_id, None, Limits(**body.limits.model_dump()))
    business = Business(
        id=new_id("biz"),
        reseller_id=reseller_id,
        name=body.name,
        enabled=body.enabled,
        **body.limits.model_dump(),
    )
    ctx.session.add(business)
    await ctx.session.flush()
    audit.record(
        ctx,
        "create",
        "businesses",
        business.id,
        business_id=business.id,
        reseller_id=reseller_id,
        changes=body.model_dump(mode="json"),
    )
    await ctx.session.commit()
    return business


async def _load(ctx: Ctx, business_id: str, action: Action) -> Business:
    business = await ctx.session.get(Business, business_id)
    if business is None:
        raise NotFound()
    authorize_business(ctx.principal, business.id, business.reseller_id, "business", action)
    return business


@router.get("/{business_id}", response_model=BusinessOut)
async def get_business(business_id: IdPath, ctx: CtxDep) -> Any:
    return await _load(ctx, business_id, Action.READ)


@router.patch("/{business_id}", response_model=BusinessOut)
async def update_business(business_id: IdPath, body: BusinessUpdate, ctx: CtxDep) -> Any:
    business = await _load(ctx, business_id, Action.WRITE)
    given = body.model_dump(exclude_unset=True)
    for name, value in given.items():
        if value is None:
            raise InvalidInput(name, "may not be null")
        setattr(business, name, value)
    audit.record(
        ctx,
        "update",
        "businesses",
        business.id,
        business_id=business.id,
        reseller_id=business.reseller_id,
        changes=given,
    )
    await ctx.session.commit()
    await ctx.session.refresh(business)
    return business


@router.delete("/{business_id}", status_code=204, response_class=Response)
async def delete_business(business_id: IdPath, ctx: CtxDep) -> Response:
    """The business goes with everything it owns: its call records and rollups in the same transaction,
    then this node's recordings of it (other nodes' recordings of it are swept by their retention)."""
    business = await _load(ctx, business_id, Action.WRITE)
    await erase_from_objects(ctx, business.id)  # first: 503 and nothing deleted if it does not answer
    await delete_business_records(ctx.session, business.id)
    await ctx.session.delete(business)
    audit.record(
        ctx, "delete", "businesses", business_id, business_id=business_id, reseller_id=business.reseller_id
    )
    await ctx.session.commit()
    control = ctx.services.calls.control if ctx.services.calls is not None else None
    if control is not None and control.recordings_dir is not None:
        folder = control.recordings_dir / business.id  # an id of ours, checked by the lookup
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
    return Response(status_code=204)
