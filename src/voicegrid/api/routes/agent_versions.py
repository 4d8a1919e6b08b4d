"""An agent's draft and versions: edit without touching calls, publish, read what was published and
by whom, restore an earlier version.

`PATCH /agents/{id}` still changes the agent at once (an API client's edit is published as the next
version); the dashboard edits the draft here and publishes when the draft has been tried.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import Field, StringConstraints
from sqlalchemy import select

from voicegrid.api import audit
from voicegrid.api.context import Ctx
from voicegrid.api.errors import validated_body
from voicegrid.api.owners import IdPath, Owner, OwnerLocator, in_named_or_own_business
from voicegrid.api.routes import agents
from voicegrid.api.schemas import In, Out
from voicegrid.core.clock import utcnow
from voicegrid.store import agent_versions as versions
from voicegrid.store.models import Agent, AgentVersion
from voicegrid.telephony.service import TelephonyUnavailable
from voicegrid.telephony.trials import TrialsBusy
from voicegrid.tenancy import Action, Conflict, NotFound

KIND = "agents"
router = APIRouter(prefix="/agents/{agent_id}", tags=["agents"])
Located = tuple[Ctx, OwnerLocator]
Number = Annotated[int, Path(ge=1, le=1_000_000)]


Loc = Annotated[Located, Depends(in_named_or_own_business(KIND))]


class DraftOut(Out):
    agent_id: str
    based_on: int = Field(description="the published version the draft was begun from")
    changed: bool = Field(description="whether the draft differs from the published version")
    updated_at: datetime | None
    config: agents.AgentCreate


Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TryIn(In):
    lines: list[Line] = Field(min_length=1, max_length=6, description="what the caller says, in turn")


class TryTurn(Out):
    speaker: str
    text: str
    voice_to_voice_ms: float | None = Field(description="agent turns: from the end of the line to its voice")


class TryOut(Out):
    call_id: str | None
    answered: bool
    completed: bool = Field(description="every line was said, and the agent answered each")
    turns: list[TryTurn]
    transcript: list[dict[str, Any]]
    latency: dict[str, Any] | None
    cost: dict[str, Any] | None


class VersionSummary(Out):
    number: int
    published_at: datetime
    published_by: str
    restored_from: int | None
    current: bool = Field(description="the version calls use now")


class VersionOut(VersionSummary):
    config: dict[str, Any]


class VersionPage(Out):
    items: list[VersionSummary]
    next_cursor: str | None


async def agent_of(ctx: Ctx, owner: Owner, agent_id: str) -> Agent:
    found = await ctx.session.scalar(
        select(Agent).where(Agent.id == agent_id, Agent.business_id == owner.business_id)
    )
    if found is None:
        raise NotFound()
    return found


def _draft(agent: Agent, based_on: int | None = None) -> DraftOut:
    config = versions.working_config(agent)
    return DraftOut(
        agent_id=agent.id,
        based_on=int((agent.draft or {}).get("_based_on", agent.version)) if based_on is None else based_on,
        changed=agent.draft is not None and _plain(config) != versions.config_of(agent),
        updated_at=agent.draft_updated_at,
        config=agents.AgentCreate.model_validate(_plain(config)),
    )


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if not k.startswith("_")}


async def checked(ctx: Ctx, owner: Owner, agent: Agent, config: dict[str, Any]) -> dict[str, Any]:
    """A whole configuration checked as a new agent's would be (the same 422 shape as a request's)."""
    model = validated_body(agents.AgentCreate, config)
    values, _ = await agents.build(ctx, owner, agent.id, model.model_dump(), None)
    return {name: values[name] for name in versions.CONFIG_FIELDS}


def _audit(ctx: Ctx, owner: Owner, action: str, agent_id: str, changes: dict[str, Any]) -> None:
    audit.record(
        ctx, action, KIND, agent_id, business_id=owner.business_id, reseller_id=owner.reseller_id,
        changes=changes,
    )  # fmt: skip


@router.get("/draft", response_model=DraftOut, summary="The agent's draft (its published version if none)")
async def get_draft(loc: Loc, agent_id: IdPath) -> DraftOut:
    ctx, locate = loc
    return _draft(await agent_of(ctx, await locate(Action.READ), agent_id))


@router.patch("/draft", response_model=DraftOut, summary="Change the draft; calls keep the published version")
async def change_draft(loc: Loc, agent_id: IdPath, body: agents.AgentUpdate) -> DraftOut:
    ctx, locate = loc
    owner = await locate(Action.WRITE)
    agent = await agent_of(ctx, owner, agent_id)
    given = body.model_dump(exclude_unset=True)
    based_on = int((agent.draft or {}).get("_based_on", agent.version))
    config = await checked(ctx, owner, agent, {**_plain(versions.working_config(agent)), **given})
    agent.draft = {**config, "_based_on": based_on}
    agent.draft_updated_at = utcnow()
    _audit(ctx, owner, "update_draft", agent.id, given)
    await ctx.session.commit()
    return _draft(agent, based_on)


@router.post(
    "/draft/try",
    response_model=TryOut,
    tags=["calls"],  # it places a call
    summary="A scripted test call of the draft: the lines are said over a real call, answered by the draft",
)
async def try_draft(loc: Loc, agent_id: IdPath, body: TryIn) -> TryOut:
    ctx, locate = loc
    owner = await locate(Action.WRITE)  # it spends the business's provider minutes
    agent = await agent_of(ctx, owner, agent_id)
    runner = ctx.services.trials
    if runner is None:
        raise TelephonyUnavailable("telephony is not running in this process")
    draft = versions.as_draft(agent)  # checked when it was saved
    _audit(ctx, owner, "try_draft", agent.id, {"lines": len(body.lines)})
    await ctx.session.commit()  # the database connection is not held through the call
    try:
        result = await runner(draft, list(body.lines))
    except TrialsBusy as exc:
        raise Conflict(str(exc)) from None
    record = result.record or {}
    return TryOut(
        call_id=result.call_id,
        answered=result.answered,
        completed=result.completed,
        turns=[TryTurn.model_validate(t, from_attributes=True) for t in result.turns],
        transcript=list(record.get("transcript") or []),
        latency=record.get("latency"),
        cost=record.get("cost"),
    )


@router.delete("/draft", status_code=204, response_class=Response, summary="Drop the draft's changes")
async def drop_draft(loc: Loc, agent_id: IdPath) -> Response:
    ctx, locate = loc
    owner = await locate(Action.WRITE)
    agent = await agent_of(ctx, owner, agent_id)
    agent.draft, agent.draft_updated_at = None, None
    _audit(ctx, owner, "drop_draft", agent.id, {})
    await ctx.session.commit()
    return Response(status_code=204)


async def _published(ctx: Ctx, agent: Agent) -> agents.AgentOut:
    await ctx.session.commit()
    await ctx.session.refresh(agent)
    return agents.render(ctx, agent)


@router.post("/publish", response_model=agents.AgentOut, summary="Publish the draft as the next version")
async def publish(loc: Loc, agent_id: IdPath) -> agents.AgentOut:
    ctx, locate = loc
    owner = await locate(Action.WRITE)
    agent = await agent_of(ctx, owner, agent_id)
    if agent.draft is None:
        raise Conflict("the agent has no draft to publish")
    config = await checked(ctx, owner, agent, _plain(agent.draft))  # a credential may be gone since
    kept = await versions.publish(ctx.session, agent, config, await agents.publisher(ctx))
    agent.draft, agent.draft_updated_at = None, None
    _audit(ctx, owner, "publish", agent.id, {"version": kept.number})
    return await _published(ctx, agent)


@router.get("/versions", response_model=VersionPage, summary="The agent's published versions, newest first")
async def list_versions(
    loc: Loc,
    agent_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,7}$")] = None,
) -> VersionPage:
    ctx, locate = loc
    agent = await agent_of(ctx, await locate(Action.READ), agent_id)
    stmt = select(AgentVersion).where(AgentVersion.agent_id == agent.id)
    if cursor is not None:
        stmt = stmt.where(AgentVersion.number < int(cursor))
    rows = list(await ctx.session.scalars(stmt.order_by(AgentVersion.number.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return VersionPage(
        items=[_summary(agent, row) for row in rows],
        next_cursor=str(rows[-1].number) if more else None,
    )


def _summary(agent: Agent, row: AgentVersion) -> VersionSummary:
    return VersionSummary(
        number=row.number, published_at=row.published_at, published_by=row.published_by,
        restored_from=row.restored_from, current=row.number == agent.version,
    )  # fmt: skip


async def _version(ctx: Ctx, agent: Agent, number: int) -> AgentVersion:
    row = await versions.version_of(ctx.session, agent.id, number)
    if row is None:
        raise NotFound("no such version of this agent")
    return row


@router.get("/versions/{number}", response_model=VersionOut, summary="One published version, whole")
async def get_version(loc: Loc, agent_id: IdPath, number: Number) -> VersionOut:
    ctx, locate = loc
    agent = await agent_of(ctx, await locate(Action.READ), agent_id)
    row = await _version(ctx, agent, number)
    return VersionOut(**_summary(agent, row).model_dump(), config=row.config)


@router.post(
    "/versions/{number}/restore",
    response_model=agents.AgentOut,
    summary="Publish an earlier version again, as the next version (the draft is kept)",
)
async def restore(loc: Loc, agent_id: IdPath, number: Number) -> agents.AgentOut:
    ctx, locate = loc
    owner = await locate(Action.WRITE)
    agent = await agent_of(ctx, owner, agent_id)
    row = await _version(ctx, agent, number)
    config = await checked(ctx, owner, agent, dict(row.config))  # its credentials may be gone since
    by = await agents.publisher(ctx)
    kept = await versions.publish(ctx.session, agent, config, by, restored_from=number)
    _audit(ctx, owner, "restore", agent.id, {"version": kept.number, "restored_from": number})
    return await _published(ctx, agent)
