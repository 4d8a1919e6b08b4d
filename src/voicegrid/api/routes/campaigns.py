"""Campaigns: a list of contacts called by one agent through the business's trunk, in each
contact's local calling window, with retries per outcome. Mounted twice, like calls: under
/v1/businesses/{business_id} and under /v1 for a business key's own campaigns.

Contacts come as JSON or as a CSV file (number, name, timezone, and a column per `{placeholder}`
of the agent's greeting, prompt or voicemail message); an import answers, row by row, what it took
and what it refused and why, and stores what it took in one transaction (or nothing).
States: draft -> (scheduled ->) running <-> paused -> finished; any but finished -> cancelled. A
draft, scheduled or paused campaign's settings may change (PATCH), all but its agent.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import insert, select

from voicegrid.analytics.export import rows_csv
from voicegrid.api import audit
from voicegrid.api.body_limit import read_file_body
from voicegrid.api.campaign_views import (
    CHANGEABLE,
    AttemptOut,
    CampaignChange,
    CampaignIn,
    CampaignOut,
    CampaignResults,
    ContactOut,
    ContactReport,
    ContactsIn,
    RefusedRow,
    StartIn,
)
from voicegrid.api.context import Ctx
from voicegrid.api.errors import validated_body
from voicegrid.api.owners import IdPath, Owner, OwnerLocator, in_named_or_own_business
from voicegrid.api.pagination import Page, PageParams, fetch_page, page_params
from voicegrid.campaigns.contacts import ContactList, contacts_from, parse_contacts
from voicegrid.campaigns.rules import placeholders
from voicegrid.core.clock import utcnow
from voicegrid.core.ids import new_id
from voicegrid.store import campaigns as store
from voicegrid.store.models import Agent, Campaign, CampaignContact, Trunk
from voicegrid.tenancy import Action, Conflict, InvalidInput, NotFound, normalize_e164
from voicegrid.tenancy.number_list import MAX_BYTES

KIND = "campaigns"
router = APIRouter(prefix="/campaigns", tags=["campaigns"])
Located = tuple[Ctx, OwnerLocator]
MOVES = {  # action -> (the states it may start from, the state it leads to)
    "start": (("draft", "scheduled"), "running"),
    "schedule": (("draft", "scheduled"), "scheduled"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "cancel": (("draft", "scheduled", "running", "paused"), "cancelled"),
}
CHANGING = ("draft", "scheduled", "paused")  # the states in which its settings may change


Loc = Annotated[Located, Depends(in_named_or_own_business(KIND))]
Region = Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="ISO country of numbers without +")]


async def _campaign(ctx: Ctx, owner: Owner, campaign_id: str) -> Campaign:
    found = await ctx.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.business_id == owner.business_id)
    )
    if found is None:
        raise NotFound()
    return found


async def _view(ctx: Ctx, campaign: Campaign, report: ContactReport | None = None) -> CampaignOut:
    view = CampaignOut.model_validate(campaign)
    view.progress = await store.progress(ctx.session, campaign.id)
    view.import_report = report
    return view


async def _variables(ctx: Ctx, campaign: Campaign) -> set[str]:
    """The columns a contact may fill: the placeholders of what the agent says."""
    agent = await ctx.session.get(Agent, campaign.agent_id)
    texts = [campaign.voicemail_message or ""]
    if agent is not None:
        texts += [agent.greeting, agent.system_prompt, agent.voicemail_message or ""]
    return set().union(*(placeholders(t) for t in texts))


async def _add_contacts(ctx: Ctx, campaign: Campaign, found: ContactList) -> ContactReport:
    """Store the contacts taken (one transaction, with the caller's commit); numbers the campaign
    has already are refused."""
    if campaign.state not in ("draft", "scheduled", "running", "paused"):
        raise Conflict(f"the campaign is {campaign.state}; contacts can no longer be added")
    numbers = [c.number for c in found.taken]
    have: set[str] = set()
    for start in range(0, len(numbers), 1000):
        have.update(
            (
                await ctx.session.scalars(
                    select(CampaignContact.number).where(
                        CampaignContact.campaign_id == campaign.id,
                        CampaignContact.number.in_(numbers[start : start + 1000]),
                    )
                )
            ).all()
        )
    already = [
        RefusedRow(row=c.row, value=c.number, reason="already in the campaign")
        for c in found.taken
        if c.number in have
    ]
    rows = [
        {
            "id": new_id("cct"), "campaign_id": campaign.id, "row": c.row, "number": c.number,
            "name": c.name, "timezone": c.timezone, "variables": c.variables, "state": "waiting",
            "next_at": 0.0, "attempts": 0, "outcome": None,
        }
        for c in found.taken
        if c.number not in have
    ]  # fmt: skip
    for start in range(0, len(rows), 5000):
        await ctx.session.execute(insert(CampaignContact), rows[start : start + 5000])
    return ContactReport.of(found, len(rows), already)


async def _checked(ctx: Ctx, owner: Owner, body: CampaignIn) -> dict[str, Any]:
    agent = await ctx.session.scalar(
        select(Agent).where(Agent.id == body.agent_id, Agent.business_id == owner.business_id)
    )
    if agent is None:
        raise InvalidInput("agent_id", "no such agent in this business")
    trunk_ids = select(Trunk.caller_ids).where(Trunk.business_id == owner.business_id, Trunk.enabled)
    if body.trunk_id is not None:
        trunk_ids = trunk_ids.where(Trunk.id == body.trunk_id)
    allowed = [set(ids or []) for ids in (await ctx.session.scalars(trunk_ids)).all()]
    if not allowed:
        raise InvalidInput("trunk_id", "no enabled trunk of this business")
    caller_ids = [normalize_e164(n, "caller_ids") for n in body.caller_ids]
    for number in caller_ids:
        if not any(number in ids for ids in allowed):
            raise InvalidInput("caller_ids", f"{number} is not a caller ID of the business's trunks")
    amd = body.amd or agent.amd
    if amd == "message" and not (body.voicemail_message or agent.voicemail_message):
        raise InvalidInput("voicemail_message", "amd `message` needs the `voicemail_message` to leave")
    values = body.model_dump(exclude={"contacts", "default_region"})
    values["retries"] = {k: v.model_dump() for k, v in body.retries.items()}
    return {**values, "caller_ids": caller_ids}


@router.post("", response_model=CampaignOut, status_code=201, summary="Create a campaign (a draft)")
async def create_campaign(loc: Loc, body: CampaignIn) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    campaign = Campaign(id=new_id("cmp"), business_id=owner.business_id, **await _checked(ctx, owner, body))
    campaign.window = dict(campaign.window)
    ctx.session.add(campaign)
    await ctx.session.flush()
    report = None
    if body.contacts:
        found = contacts_from(
            (c.row() for c in body.contacts), await _variables(ctx, campaign), body.default_region
        )
        report = await _add_contacts(ctx, campaign, found)
    _audit(ctx, owner, "create", campaign.id, {"name": body.name, "contacts": len(body.contacts)})
    await ctx.session.commit()
    return await _view(ctx, campaign, report)


@router.get("", response_model=Page[CampaignOut], summary="The business's campaigns")
async def list_campaigns(loc: Loc, page: Annotated[PageParams, Depends(page_params)]) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    stmt = select(Campaign).where(Campaign.business_id == owner.business_id)
    rows, cursor = await fetch_page(ctx.session, stmt, Campaign.id, page, newest_first=True)
    return {"items": [await _view(ctx, c) for c in rows], "next_cursor": cursor}


@router.get("/{campaign_id}", response_model=CampaignOut, summary="A campaign and its progress")
async def get_campaign(loc: Loc, campaign_id: IdPath) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    campaign = await _campaign(ctx, owner, campaign_id)
    view = await _view(ctx, campaign)
    got = await store.results(ctx.session, campaign.business_id, campaign.id)
    view.results = CampaignResults(
        calls=got.calls, answered=got.answered, talk_minutes=round(got.talk_s / 60, 3),
        cost=round(got.cost, 6), billable=round(got.billable, 6), analyzed=got.analyzed,
        succeeded=got.succeeded,
        success_rate=round(got.succeeded / got.analyzed, 4) if got.analyzed else None,
        cost_per_success=round(got.cost / got.succeeded, 6) if got.succeeded else None,
    )  # fmt: skip
    return view


@router.post(
    "/{campaign_id}/contacts", response_model=ContactReport, status_code=201, summary="Add contacts (JSON)"
)
async def add_contacts(loc: Loc, campaign_id: IdPath, body: ContactsIn) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    campaign = await _campaign(ctx, owner, campaign_id)
    found = contacts_from((c.row() for c in body.contacts), await _variables(ctx, campaign))
    report = await _add_contacts(ctx, campaign, found)
    _audit(ctx, owner, "update", campaign.id, {"contacts_added": report.added})
    await ctx.session.commit()
    return report


@router.post(
    "/{campaign_id}/contacts/import",
    response_model=ContactReport,
    status_code=201,
    summary="Add contacts from a CSV file (number, name, timezone, and the agent's placeholders)",
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_contacts(loc: Loc, campaign_id: IdPath, request: Request, region: Region = None) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    campaign = await _campaign(ctx, owner, campaign_id)
    data = await read_file_body(request, MAX_BYTES)
    variables = await _variables(ctx, campaign)  # 100,000 rows take seconds: not on the event loop
    found = await asyncio.to_thread(parse_contacts, data, variables, region)
    report = await _add_contacts(ctx, campaign, found)
    _audit(ctx, owner, "update", campaign.id, {"contacts_added": report.added})
    await ctx.session.commit()
    return report


async def _move(loc: Located, campaign_id: str, action: str, at: datetime | None = None) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    campaign = await _campaign(ctx, owner, campaign_id)
    sources, target = MOVES[action]
    values: dict[str, Any] = {"state": target, "state_reason": ""}
    if action == "start":
        values["started_at"], values["starts_at"] = campaign.started_at or utcnow(), None
    if action == "schedule":
        values["starts_at"] = at
    if action == "cancel":
        values["finished_at"] = utcnow()
    if not await store.move(ctx.session, campaign.id, sources, values):
        await ctx.session.refresh(campaign)
        raise Conflict(f"a {campaign.state} campaign cannot {action}")
    if action == "cancel":
        await store.cancel_waiting(ctx.session, campaign.id)
    changes = {"state": target} | ({"starts_at": at.isoformat()} if at is not None else {})
    _audit(ctx, owner, action, campaign.id, changes)
    await ctx.session.commit()
    await ctx.session.refresh(campaign)
    return await _view(ctx, campaign)


@router.patch("/{campaign_id}", response_model=CampaignOut, summary="Change a campaign not running")
async def change_campaign(loc: Loc, campaign_id: IdPath, body: CampaignChange) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.WRITE)
    campaign = await _campaign(ctx, owner, campaign_id)
    if campaign.state not in CHANGING:
        raise Conflict(f"a {campaign.state} campaign cannot change: pause it first")
    given = body.model_dump(exclude_unset=True)
    stored = {"agent_id": campaign.agent_id, **{f: getattr(campaign, f) for f in CHANGEABLE}}
    whole = validated_body(CampaignIn, stored | given)  # e.g. a setting that may not be null given null
    if body.voicemail_message is not None:
        missing = placeholders(body.voicemail_message) - await _variables(ctx, campaign)
        if missing:  # the contacts' columns were taken for the placeholders known then
            raise InvalidInput("voicemail_message", f"no contact column for {', '.join(sorted(missing))}")
    values = await _checked(ctx, owner, whole)
    changed = {name: values[name] for name in CHANGEABLE}
    if not await store.move(ctx.session, campaign.id, CHANGING, changed):
        await ctx.session.refresh(campaign)
        raise Conflict(f"a {campaign.state} campaign cannot change: pause it first")
    if changed["window"] != campaign.window:
        await store.reopen(ctx.session, campaign.id)
    spent = await store.close_spent(ctx.session, campaign.id, changed["max_attempts"])
    _audit(ctx, owner, "update", campaign.id, {**given, "contacts_done": spent} if spent else given)
    await ctx.session.commit()
    await ctx.session.refresh(campaign)
    return await _view(ctx, campaign)


@router.post("/{campaign_id}/start", response_model=CampaignOut, summary="Start calling, now or at a time")
async def start_campaign(loc: Loc, campaign_id: IdPath, body: StartIn | None = None) -> Any:
    at = body.at if body is not None else None
    if at is not None and at > utcnow():  # scheduled: a node's runner starts it then
        return await _move(loc, campaign_id, "schedule", at)
    return await _move(loc, campaign_id, "start")


@router.post(
    "/{campaign_id}/pause", response_model=CampaignOut, summary="Dial no more (calls under way go on)"
)
async def pause_campaign(loc: Loc, campaign_id: IdPath) -> Any:
    return await _move(loc, campaign_id, "pause")


@router.post("/{campaign_id}/resume", response_model=CampaignOut, summary="Go on calling")
async def resume_campaign(loc: Loc, campaign_id: IdPath) -> Any:
    return await _move(loc, campaign_id, "resume")


@router.post("/{campaign_id}/cancel", response_model=CampaignOut, summary="Stop for good")
async def cancel_campaign(loc: Loc, campaign_id: IdPath) -> Any:
    return await _move(loc, campaign_id, "cancel")


def _next_try(contact: CampaignContact) -> datetime | None:
    """When a waiting contact is called next: when it is due (its retry, or its window's opening)."""
    at = contact.next_at
    return datetime.fromtimestamp(at, UTC) if contact.state == "waiting" and at else None


async def _contacts_page(ctx: Ctx, rows: list[CampaignContact]) -> list[ContactOut]:
    tried = await store.attempts_of(ctx.session, [c.id for c in rows])
    attempts = {
        contact: [
            AttemptOut(call_id=a.id, attempt=a.attempt, state=a.state, outcome=a.outcome,
                       call_outcome=a.call_outcome, started_at=a.started_at, ended_at=a.ended_at)
            for a in found
        ]
        for contact, found in tried.items()
    }  # fmt: skip
    return [
        ContactOut(
            id=c.id, row=c.row, number=c.number, name=c.name, timezone=c.timezone, variables=c.variables,
            state=c.state, outcome=c.outcome, attempts=c.attempts, calls=attempts[c.id],
            next_at=_next_try(c),
        )
        for c in rows
    ]  # fmt: skip


@router.get(
    "/{campaign_id}/contacts", response_model=Page[ContactOut], summary="Contacts, with each attempt's call"
)
async def list_contacts(
    loc: Loc, campaign_id: IdPath, page: Annotated[PageParams, Depends(page_params)], state: str | None = None
) -> Any:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    campaign = await _campaign(ctx, owner, campaign_id)
    stmt = select(CampaignContact).where(CampaignContact.campaign_id == campaign.id)
    if state is not None:
        stmt = stmt.where(CampaignContact.state == state)
    rows, cursor = await fetch_page(ctx.session, stmt, CampaignContact.id, page)
    return {"items": await _contacts_page(ctx, rows), "next_cursor": cursor}


EXPORT_COLUMNS = (
    "row", "number", "name", "timezone", "state", "outcome", "attempts", "call_ids", "outcomes", "talk_s",
    "next_try",
)  # fmt: skip


@router.get(
    "/{campaign_id}/export",
    response_class=StreamingResponse,
    summary="Every contact's result, as CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_campaign(loc: Loc, campaign_id: IdPath) -> StreamingResponse:
    ctx, locate_owner = loc
    owner = await locate_owner(Action.READ)
    campaign = await _campaign(ctx, owner, campaign_id)
    sessions = ctx.services.sessions

    async def rows() -> AsyncIterator[tuple[Any, ...]]:
        async with sessions() as session:  # its own session: the response outlives the request's
            last = ""
            while batch := await store.contacts_after(session, campaign.id, last, 1000):
                last = batch[-1][0].id
                for c, tried in sorted(batch, key=lambda b: b[0].row):
                    ids, outcomes = " ".join(a.id for a in tried), " ".join(a.outcome or "" for a in tried)
                    talk = round(sum((a.talk_s for a in tried), 0.0), 1)
                    next_try = _next_try(c)
                    yield (c.row, c.number, c.name, c.timezone, c.state, c.outcome, c.attempts, ids, outcomes,
                           talk, next_try.isoformat() if next_try else None)  # fmt: skip

    name = f"campaign-{campaign.id}.csv"
    return StreamingResponse(
        rows_csv(EXPORT_COLUMNS, rows()),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _audit(ctx: Ctx, owner: Owner, action: str, campaign_id: str, changes: dict[str, Any]) -> None:
    audit.record(
        ctx, action, KIND, campaign_id, business_id=owner.business_id, reseller_id=owner.reseller_id,
        changes=changes,
    )  # fmt: skip
