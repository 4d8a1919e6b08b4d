"""Calls: place one through the business's trunk, watch it live, hang it up, transfer it.

Plain routes, mounted twice: under /v1/businesses/{business_id} (with `business_in_path`) and under
/v1 for a business key's own calls."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from voicegrid.analytics.export import csv_lines
from voicegrid.analytics.record import CallRecord
from voicegrid.api import audit
from voicegrid.api.call_views import (
    CallCreate,
    CallList,
    CallOut,
    LiveOut,
    TransferBody,
    render,
    render_record,
    with_analysis,
)
from voicegrid.api.context import Ctx, CtxDep
from voicegrid.api.fleet_calls import forward_recording, remote_call, remote_live
from voicegrid.api.owners import IdPath, Owner, OwnerLocator, business_owner, own_owner
from voicegrid.api.pagination import decode_time_key, encode_time_key
from voicegrid.api.recordings import erase_from_objects, from_objects
from voicegrid.api.routes.analytics import day_range
from voicegrid.api.routes.billing import current_catalog
from voicegrid.catalog import rate
from voicegrid.core.clock import utcnow
from voicegrid.store.billing import billing_of
from voicegrid.store.call_records import (
    erase_content,
    get_call_record,
    iter_call_records,
    list_call_records,
    without_content,
)
from voicegrid.store.models import Business
from voicegrid.telephony.book import MAX_KEPT_CALLS, Call, CallState
from voicegrid.telephony.recording_file import recording_path
from voicegrid.telephony.service import CallRequest, CallService, TelephonyUnavailable
from voicegrid.tenancy import Action, Conflict, Forbidden, NotFound, Role

Located = tuple[Ctx, OwnerLocator]
router = APIRouter(prefix="/calls", tags=["calls"])


async def business_in_path(business_id: IdPath) -> None:
    """Declares and checks the `{business_id}` of the routes mounted under /v1/businesses/{id}."""


async def _locate(request: Request, ctx: CtxDep) -> Located:
    """Whose calls: the business named in the path, else the key's own business."""
    business_id = request.path_params.get("business_id")
    if business_id is not None:
        return ctx, lambda action: business_owner(ctx, str(business_id), "calls", action)
    return ctx, lambda action: own_owner(ctx, "calls", action, business_only=True)


Loc = Annotated[Located, Depends(_locate)]


def _live(ctx: Ctx, business_id: str, call_id: str) -> Call | None:
    """The call if it is live (or queued, or recently ended) on this node; None without telephony."""
    service = ctx.services.calls
    return service.find(business_id, call_id) if service is not None else None


def _here(ctx: Ctx) -> str | None:
    """This node's name, as call records and views carry it."""
    return ctx.services.records.node if ctx.services.records is not None else None


def _kept_wav(ctx: Ctx, business_id: str, call_id: str) -> Path | None:
    """Where this node keeps the call's recording (whether or not it exists); None without telephony."""
    control = ctx.services.calls.control if ctx.services.calls is not None else None
    safe = call_id.replace("_", "").replace("-", "").isalnum()  # an id we made, never a path
    if not safe or control is None or control.recordings_dir is None:
        return None
    return recording_path(control.recordings_dir, business_id, call_id)


def _service(ctx: Ctx) -> CallService:
    service = ctx.services.calls
    if service is None:
        raise TelephonyUnavailable("telephony is not running in this process")
    return service


def _audit(ctx: Ctx, owner: Owner, action: str, call_id: str, changes: dict[str, Any]) -> None:
    audit.record(
        ctx,
        action,
        "calls",
        call_id,
        business_id=owner.business_id,
        reseller_id=owner.reseller_id,
        changes=changes,
    )


@router.post(
    "",
    response_model=CallOut,
    status_code=201,
    summary="Place an outbound call",
    responses={202: {"model": CallOut, "description": "over a limit: queued, dialled when admitted"}},
)
async def create_call(loc: Loc, body: CallCreate, response: Response) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    service = _service(ctx)
    call = await service.place(
        owner.business_id or "",
        CallRequest(
            body.agent_id,
            body.to,
            body.from_,
            body.trunk_id,
            body.metadata,
            body.ring_timeout_s,
            body.queue_deadline_s,
            body.amd,
            body.voicemail_message,
        ),
    )
    if call.state is CallState.QUEUED:
        response.status_code = 202
    _audit(ctx, owner, "create", call.id, body.model_dump(by_alias=True))
    await ctx.session.commit()
    return render(call, _here(ctx))


@router.get("", response_model=CallList, summary="Live calls and call records, newest first")
async def list_calls(
    loc: Loc,
    sip_call_id: Annotated[str | None, Query(max_length=300)] = None,
    agent_id: Annotated[str | None, Query(max_length=40)] = None,
    direction: Annotated[Literal["inbound", "outbound"] | None, Query()] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    success: Annotated[
        bool | None, Query(description="analysed calls that passed (true) or failed (false) their rubric")
    ] = None,
    field: Annotated[
        str | None,
        Query(
            max_length=265,
            pattern=r"^[A-Za-z0-9_-]{1,64}:.{1,200}$",
            description="name:value, a field the analysis extracted (e.g. party_size:4)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """The calls on this node (live, and recently ended) and the live calls of the other nodes, merged
    with the stored records, newest first, a page at a time: the cursor is the (created_at, id) of
    the last call of the page."""
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    business = owner.business_id or ""
    after = decode_time_key(cursor) if cursor else None
    found: dict[str, CallOut] = {}
    analysed = success is not None or field is not None  # only stored records are analysed
    if ctx.services.calls is not None and not analysed:  # newest first: no more than a page's worth
        for call in ctx.services.calls.recent(business, sip_call_id, limit=MAX_KEPT_CALLS):
            if len(found) > limit:
                break
            if (
                (after is None or (call.created_at, call.id) < after)
                and agent_id in (None, call.agent_id)
                and direction in (None, call.direction)
                and outcome in (None, call.outcome)
            ):
                found[call.id] = render(call, _here(ctx))
    for remote in [] if analysed else await remote_live(ctx, business):
        if (
            (after is None or (remote.created_at, remote.id) < after)
            and (sip_call_id is None or remote.sip_call_id == sip_call_id)
            and agent_id in (None, remote.agent_id)
            and direction in (None, remote.direction)
            and outcome in (None, remote.outcome)
        ):
            found.setdefault(remote.id, remote)
    stored = await list_call_records(
        ctx.session,
        business,
        limit=limit + 1,
        sip_call_id=sip_call_id,
        after=after,
        agent_id=agent_id,
        direction=direction,
        outcome=outcome,
        success=success,
        field=(field.partition(":")[0], field.partition(":")[2]) if field else None,
    )
    for record in stored:  # an ended call still in memory takes its analysis from its record
        known = found.get(record["id"])
        found[record["id"]] = render_record(record) if known is None else with_analysis(known, record)
    newest = sorted(found.values(), key=lambda c: (c.created_at, c.id), reverse=True)
    page = newest[:limit]
    more = len(newest) > limit
    next_cursor = encode_time_key(page[-1].created_at, page[-1].id) if more and page else None
    return CallList(items=page, next_cursor=next_cursor, data=page)


@router.delete(
    "/{call_id}/content",
    status_code=204,
    summary="Erase a call's transcript and recording now; its cost and latency figures stay",
)
async def erase_call_content(loc: Loc, call_id: IdPath) -> Response:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    if not ctx.principal.role.at_least(Role.ADMIN):
        raise Forbidden("erasing a call's content needs the admin role")
    business = owner.business_id or ""
    live = _live(ctx, business, call_id)
    if live is not None and live.state is not CallState.ENDED:
        raise Conflict("the call is in progress: erase its content once it has ended")
    await erase_from_objects(ctx, business, call_id)
    now = utcnow()
    erased = await erase_content(ctx.session, business, call_id, now)
    if live is not None:
        live.conversation = None
        if live.call_record is not None:
            live.call_record = CallRecord.model_validate(without_content(live.call_record.document(), now))
        live.recording_path = None
    elif not erased:
        raise NotFound()
    wav = _kept_wav(ctx, business, call_id)
    if wav is not None:  # this node's copy
        await asyncio.to_thread(wav.unlink, missing_ok=True)
    _audit(ctx, owner, "erase", call_id, {"content": "transcript and recording"})
    await ctx.session.commit()
    return Response(status_code=204)


@router.get(
    "/export",
    response_class=StreamingResponse,
    summary="Call records of a range of days (UTC), oldest first: CSV, or JSON lines of whole records",
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_calls(
    loc: Loc,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    format: Literal["csv", "ndjson"] = "csv",
) -> StreamingResponse:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    first_day, last_day = day_range(first, last)
    start = datetime.fromisoformat(first_day).replace(tzinfo=UTC)
    end = datetime.fromisoformat(last_day).replace(tzinfo=UTC) + timedelta(days=1)
    sessions, business = ctx.services.sessions, owner.business_id or ""

    async def records() -> AsyncIterator[dict[str, Any]]:
        async with sessions() as session:  # its own session: the response outlives the request's
            async for record in iter_call_records(session, business, start, end):
                yield record

    async def ndjson() -> AsyncIterator[str]:
        async for record in records():
            yield json.dumps(record, separators=(",", ":")) + "\n"

    name = f"calls-{first_day}-{last_day}.{format}"
    return StreamingResponse(
        csv_lines(records()) if format == "csv" else ndjson(),
        media_type="text/csv" if format == "csv" else "application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/live", response_model=LiveOut, summary="Calls up now, and the business's capacity in use")
async def live_calls(loc: Loc) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    business_id = owner.business_id or ""
    business = await ctx.session.get(Business, business_id)
    if business is None:
        raise NotFound()
    calls: list[CallOut] = []
    if ctx.services.calls is not None:
        calls = [render(c, _here(ctx)) for c in ctx.services.calls.live(business_id)]
    calls.extend(await remote_live(ctx, business_id))
    calls.sort(key=lambda c: (c.created_at, c.id), reverse=True)
    admission = ctx.services.admission
    usage = await admission.usage(business_id) if admission is not None else None
    return LiveOut(
        calls=calls,
        in_use=usage[0] if usage else None,
        max_concurrent_calls=business.max_concurrent_calls,
        minutes_this_month=round(usage[1], 3) if usage else None,
        monthly_minutes=business.monthly_minutes,
    )


@router.get("/{call_id}", response_model=CallOut, summary="A call: live, or its record once ended")
async def get_call(loc: Loc, call_id: IdPath) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    business = owner.business_id or ""
    live = _live(ctx, business, call_id)
    stored = (
        None
        if live is not None and live.state is not CallState.ENDED
        else (await get_call_record(ctx.session, business, call_id))
    )
    if live is not None:
        return with_analysis(render(live, _here(ctx)), stored)
    if stored is not None:
        return render_record(stored)
    remote = await remote_call(ctx, business, call_id)
    if remote is not None:
        return remote
    raise NotFound()


@router.get(
    "/{call_id}/cost",
    response_model=dict[str, Any],
    summary="The call's cost, re-rated under a catalog version (default: the newest)",
)
async def get_cost(
    loc: Loc,
    call_id: IdPath,
    catalog_version: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    business = owner.business_id or ""
    live = _live(ctx, business, call_id)
    record = live.call_record if live is not None else None
    if record is None:
        stored = await get_call_record(ctx.session, business, call_id)
        if stored is None:
            raise NotFound("no record of this call yet")
        record = CallRecord.model_validate(stored)
    billing = await billing_of(ctx.session, business)
    cost = rate(
        await current_catalog(ctx),
        record.usage,
        direction=record.direction,
        answered_seconds=record.answered_s,
        version=catalog_version,
        on=datetime.fromisoformat(record.created_at).date(),
        negotiated=billing.negotiated,
        markup=billing.markup,
        carrier=record.transport,
    )
    return cost.as_dict()


@router.get(
    "/{call_id}/recording",
    response_class=FileResponse,
    summary="The call's recording (WAV, both directions mixed), for the call's own business",
    responses={200: {"content": {"audio/wav": {}}}},
)
async def get_recording(loc: Loc, call_id: IdPath) -> Response:
    """From the call in memory; for an older call (or after a restart), from its stored record and
    the object store, or the WAV this node kept; a recording another node keeps is fetched from it."""
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    business = owner.business_id or ""
    live = _service(ctx).find(business, call_id)  # 503 without telephony
    if live is not None:
        path = live.recording_path
    else:
        stored = await get_call_record(ctx.session, business, call_id)
        if stored is None:
            raise NotFound()
        record = CallRecord.model_validate(stored)
        if record.recording is None:
            raise NotFound("this call has no recording")
        kept = await from_objects(ctx, business, call_id)
        if kept is not None:
            return kept
        if record.node not in (None, _here(ctx)):  # None: a record from before nodes had names
            return await forward_recording(ctx, record.node)
        path = _kept_wav(ctx, business, call_id)
    if path is None or not await asyncio.to_thread(path.is_file):
        raise NotFound("this call has no recording (it was erased, or is past its retention)")
    return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav")


async def _act(
    loc: Located, call_id: str, action: str, here: Callable[[CallService, Call], None], **extra: str
) -> CallOut:
    """Hang up or transfer a call: on this node, or on the node that holds it."""
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    service = _service(ctx)
    business = owner.business_id or ""
    call = service.find(business, call_id)
    if call is None:
        view = await remote_call(ctx, business, call_id, action, **extra)
        if view is None:
            raise NotFound()
    else:
        here(service, call)
        view = render(call, _here(ctx))
    _audit(ctx, owner, action, call_id, dict(extra))
    await ctx.session.commit()
    return view


@router.post("/{call_id}/hangup", response_model=CallOut, status_code=202, summary="Hang up a call")
async def hangup_call(loc: Loc, call_id: IdPath) -> Any:
    return await _act(loc, call_id, "hangup", lambda service, call: service.hangup(call))


@router.post("/{call_id}/transfer", response_model=CallOut, status_code=202, summary="Blind transfer (REFER)")
async def transfer_call(loc: Loc, call_id: IdPath, body: TransferBody) -> Any:
    to = body.to
    return await _act(loc, call_id, "transfer", lambda service, call: service.transfer(call, to), to=to)
