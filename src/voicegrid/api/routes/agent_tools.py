"""An agent's tool tried before a call uses it: the dashboard's "test" button beside a webhook tool
(or a transfer target). It runs as a call would run it (`pipeline.tools.ToolTests`): the platform's
destination policy, the business's signature, the tool's timeout, the answer capped; the webhook's
JSON says `"call_id": "test"`. Nothing is saved; the audit log shows the test."""

import time
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from voicegrid.api import audit
from voicegrid.api.owners import IdPath
from voicegrid.api.routes import agents
from voicegrid.api.routes.agent_versions import KIND, Loc, agent_of
from voicegrid.api.schemas import In, Out
from voicegrid.tenancy import Action

router = APIRouter(prefix="/agents/{agent_id}", tags=["agents"])


class ToolTestIn(In):
    tool: agents.Tool = Field(description="the tool as it stands in the form (saved or not)")
    arguments: dict[str, Any] = Field(
        default_factory=dict, max_length=50, description="what a model would pass"
    )


class ToolTestOut(Out):
    ok: bool = Field(description="whether the tool did its work (a webhook answered 2xx in time)")
    result: str = Field(description="what the language model would read as the tool's answer")
    action: str | None = Field(description="what the call would do next: end, transfer or dtmf")
    argument: str = Field(description="the action's argument: where a transfer would go, the digits")
    elapsed_ms: float


@router.post(
    "/tools/test", response_model=ToolTestOut, summary="Run one of the agent's tools as a call would"
)
async def test_tool(loc: Loc, agent_id: IdPath, body: ToolTestIn) -> ToolTestOut:
    ctx, locate = loc
    owner = await locate(Action.WRITE)  # it makes the platform send a request on the business's behalf
    agent = await agent_of(ctx, owner, agent_id)
    tests = ctx.services.tool_tests
    assert tests is not None  # set when the services are made
    tool = body.tool.model_dump()
    audit.record(
        ctx, "test_tool", KIND, agent.id, business_id=owner.business_id, reseller_id=owner.reseller_id,
        changes={"tool": tool["name"], "kind": tool["kind"]},
    )  # fmt: skip
    await ctx.session.commit()  # the database connection is not held through the request
    started = time.monotonic()
    outcome = await tests(agent.business_id, agent.id, tool, body.arguments)  # ToolTestsBusy: 429
    return ToolTestOut(
        ok=outcome.ok,
        result=outcome.result,
        action=outcome.action,
        argument=outcome.argument,
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
    )
