"""The provider plan limits the platform stated (`PUT /v1/capacity/provider-limits`, validated there),
as the pools read them when a node starts: without the API's models, so a node reads them before its
REST API is loaded."""

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.pipeline.gating import DEFAULT_LIMITS, PlanLimit
from voicegrid.store.models import PlatformSetting

SETTING = "provider_slots"


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def plan_of(item: dict[str, Any]) -> tuple[tuple[str, str], PlanLimit]:
    """One stored entry (a validated `ProviderLimit`'s fields) as its pool's key and plan."""
    plan = PlanLimit(
        _count(item.get("slots")),
        _count(item.get("rpm")),
        _count(item.get("tpm")),
        {str(k): float(v) for k, v in (item.get("weights") or {}).items()},
        {str(k): int(v) for k, v in (item.get("minimums") or {}).items()},
    )
    return (str(item["stage"]), str(item["provider"])), plan


async def load_provider_limits(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[tuple[str, str], PlanLimit]:
    """What the platform stated, else the defaults from PROVIDER_FACTS.md."""
    async with sessions() as session:
        row = await session.get(PlatformSetting, SETTING)
    if row is None:
        return dict(DEFAULT_LIMITS)
    return dict(plan_of(item) for item in json.loads(row.value))
