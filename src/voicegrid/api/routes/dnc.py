"""Do-not-call lists: a business's own (`/v1/businesses/{id}/do-not-call`) and a reseller's, which
holds for all its businesses (`/v1/resellers/{id}/do-not-call`). Numbers are added as JSON or as a
CSV file (a `number` column, an optional `reason`), listed a page at a time, and removed one by one.
Every outbound call is checked against both lists as it is dialled.

An import answers what it took and what it refused, row by row and why; what it took is stored in
one transaction, so a failure stores nothing.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import Field
from sqlalchemy import select

from voicegrid.api import audit
from voicegrid.api.body_limit import read_file_body
from voicegrid.api.context import Ctx, CtxDep
from voicegrid.api.owners import IdPath, Owner, business_owner, reseller_owner
from voicegrid.api.pagination import Page, PageParams, fetch_page, page_params
from voicegrid.api.schemas import In, Out
from voicegrid.store import dnc
from voicegrid.store.models import DoNotCall
from voicegrid.tenancy import Action, InvalidInput, NotFound, normalize_e164
from voicegrid.tenancy.number_list import MAX_BYTES, parse_numbers

router = APIRouter(tags=["do-not-call"])
KIND = "do-not-call"
Locate = Callable[[Ctx, str, Action], Awaitable[Owner]]


class Entry(Out):
    number: str
    reason: str
    created_at: datetime


class EntriesIn(In):
    numbers: list[str] = Field(min_length=1, max_length=1000, description="E.164 numbers")
    reason: str = Field(default="", max_length=200)


class RefusedRow(Out):
    row: int = Field(description="the CSV's row (the header is 1), or the index in `numbers` from 1")
    value: str
    reason: str


class ImportReport(Out):
    added: int
    already_listed: int
    refused: list[RefusedRow]
    ignored_columns: list[str]


async def _business(ctx: Ctx, owner_id: str, action: Action) -> Owner:
    return await business_owner(ctx, owner_id, KIND, action)


async def _reseller(ctx: Ctx, owner_id: str, action: Action) -> Owner:
    return await reseller_owner(ctx, owner_id, KIND, action)


async def _store(ctx: Ctx, owner: Owner, owner_id: str, entries: list[tuple[str, str]], **report: Any) -> Any:
    added, already = await dnc.add(ctx.session, owner_id, entries)
    audit.record(
        ctx, "create", KIND, owner_id, business_id=owner.business_id, reseller_id=owner.reseller_id,
        changes={"added": added, "already_listed": already},
    )  # fmt: skip
    await ctx.session.commit()
    return ImportReport(added=added, already_listed=already, **report)


async def _business_id(business_id: IdPath) -> str:
    return business_id


async def _reseller_id(reseller_id: IdPath) -> str:
    return reseller_id


def _routes(prefix: str, owner_of: Callable[..., Awaitable[str]], locate: Locate) -> None:
    OwnerId = Annotated[str, Depends(owner_of)]

    @router.get(f"{prefix}/do-not-call", response_model=Page[Entry], summary="Numbers never to call")
    async def list_entries(
        owner_id: OwnerId, ctx: CtxDep, page: Annotated[PageParams, Depends(page_params)]
    ) -> Any:
        await locate(ctx, owner_id, Action.READ)
        rows, cursor = await fetch_page(
            ctx.session, select(DoNotCall).where(DoNotCall.owner == owner_id), DoNotCall.id, page
        )
        return {"items": rows, "next_cursor": cursor}

    @router.post(
        f"{prefix}/do-not-call",
        response_model=ImportReport,
        status_code=201,
        summary="Add numbers never to call",
    )
    async def add_entries(owner_id: OwnerId, body: EntriesIn, ctx: CtxDep) -> Any:
        owner = await locate(ctx, owner_id, Action.WRITE)
        entries, refused, seen = [], [], set()
        for index, raw in enumerate(body.numbers, start=1):
            try:
                number = normalize_e164(raw)
            except InvalidInput as exc:
                refused.append(RefusedRow(row=index, value=raw[:40], reason=exc.reason))
                continue
            if number not in seen:
                seen.add(number)
                entries.append((number, body.reason))
        return await _store(ctx, owner, owner_id, entries, refused=refused, ignored_columns=[])

    @router.post(
        f"{prefix}/do-not-call/import",
        response_model=ImportReport,
        status_code=201,
        summary="Add numbers never to call from a CSV file (`number`, optional `reason`)",
        openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def import_entries(owner_id: OwnerId, request: Request, ctx: CtxDep) -> Any:
        owner = await locate(ctx, owner_id, Action.WRITE)
        data = await read_file_body(request, MAX_BYTES)
        found = parse_numbers(data, ("reason",))
        entries = [(row.number, row.fields.get("reason", "")) for row in found.taken]
        refused = [RefusedRow(row=r.row, value=r.value, reason=r.reason) for r in found.refused]
        return await _store(
            ctx, owner, owner_id, entries, refused=refused, ignored_columns=found.ignored_columns
        )

    @router.delete(f"{prefix}/do-not-call/{{number}}", status_code=204, summary="Call this number again")
    async def remove_entry(
        owner_id: OwnerId, number: Annotated[str, Path(max_length=40)], ctx: CtxDep
    ) -> Response:
        owner = await locate(ctx, owner_id, Action.WRITE)
        if not await dnc.remove(ctx.session, owner_id, normalize_e164(number)):
            raise NotFound()
        audit.record(
            ctx, "delete", KIND, owner_id, business_id=owner.business_id, reseller_id=owner.reseller_id,
            changes={"number": normalize_e164(number)},
        )  # fmt: skip
        await ctx.session.commit()
        return Response(status_code=204)


_routes("/v1/businesses/{business_id}", _business_id, _business)
_routes("/v1/resellers/{reseller_id}", _reseller_id, _reseller)
