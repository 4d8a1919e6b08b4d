"""Phone numbers: E.164, owned by one business on the whole platform, each routed to one agent."""

from typing import Any

from pydantic import Field
from sqlalchemy import select

from voicegrid.api.context import Ctx
from voicegrid.api.owners import Owner
from voicegrid.api.resources import ResourceSpec
from voicegrid.api.schemas import In, Stamped
from voicegrid.store.models import Agent, PhoneNumber
from voicegrid.tenancy import Conflict, InvalidInput, normalize_e164


class NumberCreate(In):
    number: str = Field(min_length=1, max_length=40, examples=["+15550100"])
    agent_id: str | None = Field(default=None, max_length=40)
    label: str = Field(default="", max_length=200)


class NumberUpdate(In):
    agent_id: str | None = Field(default=None, max_length=40)
    label: str | None = Field(default=None, max_length=200)


class NumberOut(Stamped):
    business_id: str
    number: str
    agent_id: str | None
    label: str


async def build(
    ctx: Ctx, owner: Owner, row_id: str, given: dict[str, Any], existing: PhoneNumber | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    values: dict[str, Any] = {}
    if existing is None:
        e164 = normalize_e164(given["number"])
        taken = await ctx.session.scalar(select(PhoneNumber.business_id).where(PhoneNumber.e164 == e164))
        if taken is not None:
            # Same answer whoever owns it: saying which business would leak another tenant's data.
            raise Conflict(f"{e164} is already assigned")
        values.update(e164=e164, business_id=owner.business_id)
    agent_id = given.get("agent_id")
    if agent_id is not None:
        found = await ctx.session.scalar(
            select(Agent.id).where(Agent.id == agent_id, Agent.business_id == owner.business_id)
        )
        if found is None:
            raise InvalidInput("agent_id", "no such agent in this business")
    if "agent_id" in given:
        values["agent_id"] = agent_id
    if given.get("label") is not None:
        values["label"] = given["label"]
    return values, {}


def render(_ctx: Ctx, row: PhoneNumber) -> NumberOut:
    return NumberOut(
        id=row.id,
        business_id=row.business_id,
        number=row.e164,
        agent_id=row.agent_id,
        label=row.label,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


SPEC = ResourceSpec(
    kind="numbers",
    model=PhoneNumber,
    id_prefix="num",
    create=NumberCreate,
    update=NumberUpdate,
    out=NumberOut,
    build=build,
    render=render,
)
