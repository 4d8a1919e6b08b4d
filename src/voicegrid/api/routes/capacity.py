"""Capacity, for the platform: provider plan limits (editable), the backend's state, Prometheus metrics.

Provider limits default to the entry plans in PROVIDER_FACTS.md (`pipeline.gating.DEFAULT_LIMITS`);
what the platform sets is stored and applied at once to the pools in use. With the Redis backend the
pool's size is shared, so every node follows; a node starting later reads the stored limits.
"""

import dataclasses
import json
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import Field, model_validator

from voicegrid.api import audit
from voicegrid.api.context import CtxDep
from voicegrid.api.owners import platform_only
from voicegrid.api.schemas import In, Out
from voicegrid.capacity.resilient import ResilientBackend
from voicegrid.pipeline.gating import PlanLimit
from voicegrid.pipeline.provider_limits import SETTING, load_provider_limits, plan_of
from voicegrid.store.models import PlatformSetting
from voicegrid.tenancy import Role

router = APIRouter(tags=["capacity"])


class ProviderLimit(In):
    stage: Literal["stt", "llm", "tts"]
    provider: str = Field(min_length=1, max_length=40)
    slots: int | None = Field(default=None, ge=1, le=100_000, description="concurrent streams or requests")
    rpm: int | None = Field(default=None, ge=1, le=10_000_000, description="requests per minute")
    tpm: int | None = Field(default=None, ge=1, le=10**10, description="tokens per minute (LLMs)")
    weights: dict[str, float] = Field(
        default_factory=dict, max_length=1000, description="business id -> its share's weight (default 1)"
    )
    minimums: dict[str, int] = Field(
        default_factory=dict, max_length=1000, description="business id -> slots held free for it"
    )

    @model_validator(mode="after")
    def _coherent(self) -> "ProviderLimit":
        if any(w <= 0 or w > 1000 for w in self.weights.values()):
            raise ValueError("weights are between 0 (excluded) and 1000")
        if any(m < 0 for m in self.minimums.values()):
            raise ValueError("minimums are not negative")
        if self.minimums and (self.slots is None or sum(self.minimums.values()) > self.slots):
            raise ValueError("guaranteed minimums need slots, and may not exceed them")
        return self

    def plan(self) -> PlanLimit:
        return plan_of(self.model_dump())[1]  # as a starting node reads it back from the store


class ProviderLimits(In):
    limits: list[ProviderLimit] = Field(max_length=200)


class ProviderLimitsOut(Out):
    items: list[dict[str, Any]] = Field(description="each stage and provider's limits")
    next_cursor: str | None = Field(default=None, description="always null: the whole list is one page")
    limits: list[dict[str, Any]] = Field(deprecated=True, description="the same as `items`, until 2027-06")


class CapacityOut(Out):
    backend: str
    degraded: bool
    node: str | None
    pools: dict[str, dict[str, Any]]
    outbound_queue: int


def _render(limits: dict[tuple[str, str], PlanLimit]) -> ProviderLimitsOut:
    items = [
        {"stage": s, "provider": p, **dataclasses.asdict(plan)} for (s, p), plan in sorted(limits.items())
    ]
    return ProviderLimitsOut(
        items=items,
        limits=items,
    )


@router.get("/v1/capacity/provider-limits", response_model=ProviderLimitsOut, summary="Provider plan limits")
async def get_provider_limits(ctx: CtxDep) -> Any:
    platform_only(ctx, Role.VIEWER, "capacity")
    return _render(await load_provider_limits(ctx.services.sessions))


@router.put(
    "/v1/capacity/provider-limits", response_model=ProviderLimitsOut, summary="Set provider plan limits"
)
async def put_provider_limits(body: ProviderLimits, ctx: CtxDep) -> Any:
    platform_only(ctx, Role.ADMIN, "capacity")
    limits: dict[tuple[str, str], PlanLimit] = {
        (item.stage, item.provider): item.plan() for item in body.limits
    }
    value = json.dumps([item.model_dump() for item in body.limits])
    row = await ctx.session.get(PlatformSetting, SETTING)
    if row is None:
        ctx.session.add(PlatformSetting(key=SETTING, value=value))
    else:
        row.value = value
    audit.record(
        ctx, "update", "capacity", SETTING, business_id=None, reseller_id=None, changes={"limits": value}
    )
    await ctx.session.commit()
    if ctx.services.provider_slots is not None:
        await ctx.services.provider_slots.set_limits(limits)
    return _render(limits)


@router.get("/v1/capacity", response_model=CapacityOut, summary="The capacity backend and its pools, now")
async def get_capacity(ctx: CtxDep) -> Any:
    platform_only(ctx, Role.VIEWER, "capacity")
    admission, slots = ctx.services.admission, ctx.services.provider_slots
    backend = admission.backend if admission is not None else None
    pools: dict[str, dict[str, Any]] = {}
    if slots is not None:
        for account in slots.accounts.values():
            usage = await slots.backend.usage(account.name) if account.configured else None
            pools[account.name] = {
                "limit": account.limit,
                "capacity": account.capacity,
                "decreases": account.decreases,
                "in_use": usage.in_use if usage else {},
                "waiting": usage.waiting if usage else {},
            }
    return CapacityOut(
        backend=backend.name if backend is not None else "none",
        degraded=isinstance(backend, ResilientBackend) and backend.degraded,
        node=backend.shared.node if isinstance(backend, ResilientBackend) else None,
        pools=pools,
        outbound_queue=len(admission.queue) if admission is not None else 0,
    )


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (platform key)",
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(ctx: CtxDep) -> Response:
    platform_only(ctx, Role.VIEWER, "capacity")
    admission = ctx.services.admission
    body = admission.metrics.render() if admission is not None else b""
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
