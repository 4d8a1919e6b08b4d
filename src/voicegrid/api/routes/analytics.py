"""Aggregates of a business's calls, read from the rollups (so a month costs a few dozen rows).

`/analytics/calls?group_by=day|agent|agent_day|direction|total` gives calls, minutes, cost, billable,
cost per minute, failover rate, outcomes, p50/p95 of voice-to-voice and each of its components, and
from the calls' analyses the success rate and the cost per successful call, for all calls or one
direction (`direction=inbound|outbound`); `/analytics/intents` the questions callers asked most;
`/analytics/providers`
gives each provider's use, cost, failover rate and wait p50/p95. Days are UTC; the default range is
the last 30 days.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from voicegrid.analytics.export import table_csv
from voicegrid.analytics.recommend import recommend
from voicegrid.analytics.rollup import summarize_calls, summarize_intents, summarize_providers
from voicegrid.api.context import Ctx
from voicegrid.api.owners import OwnerLocator
from voicegrid.api.routes.billing import current_catalog
from voicegrid.api.schemas import Out
from voicegrid.store.call_records import list_call_records
from voicegrid.store.rollups import call_rollups, provider_rollups
from voicegrid.tenancy import Action, InvalidInput

Located = tuple[Ctx, OwnerLocator]
MAX_DAYS = 400
RECOMMEND_SAMPLE = 2000  # the newest calls re-rated per request, scaled to a month


class Summary(Out):
    first_day: str
    last_day: str
    rows: list[dict[str, Any]]


def day_range(first: date | None, last: date | None) -> tuple[str, str]:
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=29)
    if first > last:
        raise InvalidInput("from", "after `to`")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput("from", f"a range is at most {MAX_DAYS} days")
    return first.isoformat(), last.isoformat()


Format = Annotated[
    Literal["json", "csv"], Query(description="csv: one line per row, nested fields flattened")
]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


def _as(format: str, name: str, summary: Summary) -> Any:
    """The summary as JSON, or as a CSV file named after the range."""
    if format == "json":
        return summary
    return Response(
        table_csv(summary.rows),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{summary.first_day}-{summary.last_day}.csv"'
        },
    )


def analytics_router(locate: Callable[..., Awaitable[Located]]) -> APIRouter:
    router = APIRouter(prefix="/analytics", tags=["analytics"])
    Loc = Annotated[Located, Depends(locate)]
    From = Annotated[
        date | None, Query(alias="from", description="first day, UTC (default: 29 days before `to`)")
    ]
    To = Annotated[date | None, Query(alias="to", description="last day, UTC (default: today)")]

    @router.get(
        "/calls",
        response_model=Summary,
        summary="Calls, minutes, money and latency, by day, agent or direction",
        responses=CSV_RESPONSE,
    )
    async def calls(
        loc: Loc,
        first: From = None,
        last: To = None,
        group_by: Annotated[
            Literal["day", "agent", "agent_day", "direction", "total"],
            Query(description="agent_day: one row per agent and day (success rate, cost per success)"),
        ] = "day",
        direction: Annotated[
            Literal["inbound", "outbound"] | None, Query(description="only calls in this direction")
        ] = None,
        format: Format = "json",
    ) -> Any:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.READ)
        first_day, last_day = day_range(first, last)
        rows = await call_rollups(ctx.session, owner.business_id or "", first_day, last_day, direction)
        summary = Summary(first_day=first_day, last_day=last_day, rows=summarize_calls(rows, group_by))
        return _as(format, f"calls-by-{group_by}", summary)

    @router.get(
        "/intents",
        response_model=Summary,
        summary="What callers asked most, and how often it was answered (from the calls' analyses)",
        responses=CSV_RESPONSE,
    )
    async def intents(
        loc: Loc,
        first: From = None,
        last: To = None,
        agent_id: Annotated[str | None, Query(max_length=40, description="one agent; absent: all")] = None,
        top: Annotated[int, Query(ge=1, le=200)] = 20,
        format: Format = "json",
    ) -> Any:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.READ)
        first_day, last_day = day_range(first, last)
        rows = await call_rollups(ctx.session, owner.business_id or "", first_day, last_day)
        if agent_id is not None:
            rows = [r for r in rows if r["agent_id"] == agent_id]
        summary = Summary(first_day=first_day, last_day=last_day, rows=summarize_intents(rows, top))
        return _as(format, "intents", summary)

    @router.get(
        "/providers",
        response_model=Summary,
        summary="Cost, use and latency by provider",
        responses=CSV_RESPONSE,
    )
    async def providers(loc: Loc, first: From = None, last: To = None, format: Format = "json") -> Any:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.READ)
        first_day, last_day = day_range(first, last)
        rows = await provider_rollups(ctx.session, owner.business_id or "", first_day, last_day)
        summary = Summary(first_day=first_day, last_day=last_day, rows=summarize_providers(rows))
        return _as(format, "providers", summary)

    @router.get(
        "/recommendations",
        response_model=Summary,
        summary="What an agent's calls would have cost on the other stacks in the catalog, a month ahead",
    )
    async def recommendations(
        loc: Loc,
        agent_id: Annotated[str | None, Query(max_length=40, description="one agent; absent: all")] = None,
        first: From = None,
        last: To = None,
    ) -> Any:
        ctx, locate_owner = loc
        owner = await locate_owner(Action.READ)
        business = owner.business_id or ""
        first_day, last_day = day_range(first, last)
        start = datetime.fromisoformat(first_day).replace(tzinfo=UTC)
        end = datetime.fromisoformat(last_day).replace(tzinfo=UTC) + timedelta(days=1)
        records = await list_call_records(
            ctx.session, business, limit=RECOMMEND_SAMPLE, before=end, agent_id=agent_id, since=start
        )
        waits = {
            (p["stage"], p["provider"]): p["wait_ms_p50"]
            for p in summarize_providers(await provider_rollups(ctx.session, business, first_day, last_day))
            if p["wait_ms_p50"] is not None
        }
        days = (end - start).days if len(records) < RECOMMEND_SAMPLE else _span_days(records)
        found = recommend(await current_catalog(ctx), records, days=days, waits_ms=waits, on=end.date())
        return Summary(first_day=first_day, last_day=last_day, rows=[r.as_dict() for r in found])

    return router


def _span_days(records: list[dict[str, Any]]) -> float:
    """The days a sample of the newest records covers (for scaling it to a month)."""
    times = [datetime.fromisoformat(r["created_at"]) for r in records]
    return max((max(times) - min(times)).total_seconds() / 86400, 1 / 24)
