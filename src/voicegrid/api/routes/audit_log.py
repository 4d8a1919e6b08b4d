"""The audit log: every write through the API, readable by owners and admins and by those above them."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Select, select

from voicegrid.api.context import CtxDep
from voicegrid.api.owners import IdPath, business_owner, own_owner
from voicegrid.api.pagination import Page, PageParams, fetch_page, page_params
from voicegrid.api.schemas import Out
from voicegrid.store.models import AuditEntry
from voicegrid.tenancy import Action, Scope

router = APIRouter(tags=["audit-log"])


class AuditOut(Out):
    id: str
    at: datetime
    reseller_id: str | None
    business_id: str | None
    actor_scope: str
    actor_role: str
    key_id: str | None
    user_id: str | None
    action: str
    resource: str
    resource_id: str | None
    changes: dict[str, Any]
    source_ip: str | None
    user_agent: str | None


def _filtered(stmt: Select[Any], resource: str | None, since: datetime | None) -> Select[Any]:
    if resource is not None:
        stmt = stmt.where(AuditEntry.resource == resource)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    return stmt


Resource = Annotated[str | None, Query(max_length=40)]


@router.get("/v1/businesses/{business_id}/audit-log", response_model=Page[AuditOut])
async def business_audit_log(
    business_id: IdPath,
    ctx: CtxDep,
    page: Annotated[PageParams, Depends(page_params)],
    resource: Resource = None,
    since: datetime | None = None,
) -> Any:
    await business_owner(ctx, business_id, "audit-log", Action.READ)
    stmt = _filtered(select(AuditEntry).where(AuditEntry.business_id == business_id), resource, since)
    rows, cursor = await fetch_page(ctx.session, stmt, AuditEntry.id, page, newest_first=True)
    return {"items": rows, "next_cursor": cursor}


@router.get("/v1/audit-log", response_model=Page[AuditOut], summary="Audit entries at the caller's own level")
async def own_audit_log(
    ctx: CtxDep,
    page: Annotated[PageParams, Depends(page_params)],
    resource: Resource = None,
    since: datetime | None = None,
) -> Any:
    owner = await own_owner(ctx, "audit-log", Action.READ, business_only=False)
    stmt = select(AuditEntry)
    if owner.scope is Scope.BUSINESS:
        stmt = stmt.where(AuditEntry.business_id == owner.business_id)
    elif owner.scope is Scope.RESELLER:
        stmt = stmt.where(AuditEntry.reseller_id == owner.reseller_id)
    rows, cursor = await fetch_page(
        ctx.session, _filtered(stmt, resource, since), AuditEntry.id, page, newest_first=True
    )
    return {"items": rows, "next_cursor": cursor}
