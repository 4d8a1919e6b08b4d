"""One router factory for every collection a tenant owns: list, create, read, update, delete.

A resource declares its schemas and two functions (`build` turns a validated body into column
values, checking cross-object rules; `render` turns a row into its public shape). Authorization,
ownership filtering, pagination, auditing and status codes live here once.
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel
from sqlalchemy import select

from voicegrid.api import audit
from voicegrid.api.context import Ctx
from voicegrid.api.owners import IdPath, Owner, OwnerLocator, owner_filter
from voicegrid.api.pagination import Page, PageParams, fetch_page, page_params
from voicegrid.core.ids import new_id
from voicegrid.tenancy import Action, NotFound

Build = Callable[
    [Ctx, Owner, str, dict[str, Any], Any | None], Awaitable[tuple[dict[str, Any], dict[str, Any]]]
]
Render = Callable[[Ctx, Any], BaseModel]
Located = tuple[Ctx, OwnerLocator]


@dataclass(frozen=True)
class ResourceSpec:
    kind: str  # path segment, audit resource name, and row of the policy table
    model: Any
    id_prefix: str
    create: type[BaseModel]
    out: type[BaseModel]
    build: Build  # (ctx, owner, row id, fields given, existing row or None) -> (column values, extra output)
    render: Render
    update: type[BaseModel] | None = None
    created_out: type[BaseModel] | None = None
    # Called before a delete; returns True when it handled the delete itself (a soft delete).
    on_delete: Callable[[Ctx, Any], Awaitable[bool]] | None = None
    visible: Callable[[Any], Any] | None = None  # extra filter on list and get (e.g. not revoked)
    # Called once a created or changed row is flushed, in its transaction (e.g. to keep a version).
    after_write: Callable[[Ctx, Any, dict[str, Any]], Awaitable[None]] | None = None
    tags: list[str] = field(default_factory=list)


def _typed(fn: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """Give `body` its schema class for FastAPI while the code stays generic (and mypy-clean)."""
    sig = inspect.signature(fn)
    params = [p.replace(annotation=annotations.get(p.name, p.annotation)) for p in sig.parameters.values()]
    fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return fn


def resource_router(spec: ResourceSpec, locate: Callable[..., Awaitable[Located]]) -> APIRouter:
    tags: list[str | Enum] = list(spec.tags or [spec.kind])
    router = APIRouter(prefix=f"/{spec.kind}", tags=tags)
    model = spec.model
    Loc = Annotated[Located, Depends(locate)]

    async def load(ctx: Ctx, owner: Owner, item_id: str) -> Any:
        stmt = select(model).where(model.id == item_id, owner_filter(model, owner))
        if spec.visible is not None:
            stmt = stmt.where(spec.visible(model))
        row = await ctx.session.scalar(stmt)
        if row is None:
            raise NotFound()
        return row

    def audit_write(ctx: Ctx, owner: Owner, action: str, item_id: str, changes: dict[str, Any]) -> None:
        audit.record(
            ctx,
            action,
            spec.kind,
            item_id,
            business_id=owner.business_id,
            reseller_id=owner.reseller_id,
            changes=changes,
        )

    @router.get("", response_model=Page[spec.out], summary=f"List {spec.kind}")  # type: ignore[name-defined]
    async def list_items(loc: Loc, page: Annotated[PageParams, Depends(page_params)]) -> dict[str, Any]:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.READ)
        stmt = select(model).where(owner_filter(model, owner))
        if spec.visible is not None:
            stmt = stmt.where(spec.visible(model))
        rows, cursor = await fetch_page(ctx.session, stmt, model.id, page)
        return {"items": [spec.render(ctx, r) for r in rows], "next_cursor": cursor}

    async def create_item(loc: Loc, body: Any) -> Any:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.WRITE)
        given = body.model_dump()
        row_id = new_id(spec.id_prefix)
        values, extra = await spec.build(ctx, owner, row_id, given, None)
        row = model(id=row_id, **values)
        ctx.session.add(row)
        await ctx.session.flush()
        if spec.after_write is not None:
            await spec.after_write(ctx, row, given)
        audit_write(ctx, owner, "create", row.id, given)
        await ctx.session.commit()
        out = spec.render(ctx, row)
        if spec.created_out is not None:
            return spec.created_out.model_validate({**out.model_dump(), **extra})
        return out

    router.add_api_route(
        "",
        _typed(create_item, body=spec.create),
        methods=["POST"],
        status_code=201,
        response_model=spec.created_out or spec.out,
        summary=f"Create one of {spec.kind}",
    )

    @router.get("/{item_id}", response_model=spec.out, summary=f"Read one of {spec.kind}")
    async def get_item(loc: Loc, item_id: IdPath) -> Any:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.READ)
        return spec.render(ctx, await load(ctx, owner, item_id))

    if spec.update is not None:

        async def update_item(loc: Loc, item_id: IdPath, body: Any) -> Any:
            ctx, locate_owner = loc
            owner = await locate_owner(Action.WRITE)
            row = await load(ctx, owner, item_id)
            given = body.model_dump(exclude_unset=True)
            values, _ = await spec.build(ctx, owner, row.id, given, row)
            for name, value in values.items():
                setattr(row, name, value)
            if spec.after_write is not None:
                await ctx.session.flush()
                await spec.after_write(ctx, row, given)
            audit_write(ctx, owner, "update", row.id, given)
            await ctx.session.commit()
            await ctx.session.refresh(row)
            return spec.render(ctx, row)

        router.add_api_route(
            "/{item_id}",
            _typed(update_item, body=spec.update),
            methods=["PATCH"],
            response_model=spec.out,
            summary=f"Change one of {spec.kind}",
        )

    @router.delete(
        "/{item_id}", status_code=204, response_class=Response, summary=f"Delete one of {spec.kind}"
    )
    async def delete_item(loc: Loc, item_id: IdPath) -> Response:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.WRITE)
        row = await load(ctx, owner, item_id)
        handled = await spec.on_delete(ctx, row) if spec.on_delete is not None else False
        if not handled:
            await ctx.session.delete(row)
        audit_write(ctx, owner, "delete", item_id, {})
        await ctx.session.commit()
        return Response(status_code=204)

    return router
