"""The plan for a business (`voicegrid report`), made by its reseller or the platform: its call records
over a range of days, the catalog and the planner, as one HTML document in the reseller's branding."""

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from voicegrid.api.context import CtxDep
from voicegrid.api.owners import IdPath, business_owner
from voicegrid.api.routes.analytics import day_range
from voicegrid.api.routes.billing import current_catalog
from voicegrid.report import build
from voicegrid.report.stored import branding_of, business_inputs
from voicegrid.store.models import Business
from voicegrid.tenancy import Action, Forbidden, InvalidInput, Scope

router = APIRouter(tags=["report"])
# The document holds no script and loads nothing: styles inline, charts inline SVG.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


@router.get(
    "/v1/businesses/{business_id}/report",
    response_class=HTMLResponse,
    summary="The plan for a business, from its call records (reseller and platform users)",
    responses={200: {"content": {"text/html": {}}}},
)
async def business_report(
    business_id: IdPath,
    ctx: CtxDep,
    first: Annotated[
        date | None, Query(alias="from", description="first day, UTC (default: 29 days before `to`)")
    ] = None,
    last: Annotated[date | None, Query(alias="to", description="last day, UTC (default: today)")] = None,
) -> Any:
    await business_owner(ctx, business_id, "business", Action.READ)
    if ctx.principal.scope is Scope.BUSINESS:
        raise Forbidden("the plan is made by the business's reseller or the platform")
    business = await ctx.session.get(Business, business_id)
    assert business is not None  # business_owner found it
    first_day, last_day = day_range(first, last)
    try:
        inputs = await business_inputs(
            ctx.session, business, date.fromisoformat(first_day), date.fromisoformat(last_day)
        )
    except ValueError:
        raise InvalidInput("from", "no call records of this business in that range") from None
    brand = await branding_of(ctx.session, business)
    catalog = await current_catalog(ctx)
    today = datetime.now(UTC).date()
    # The planner's arithmetic for 1,000 calls takes a moment of CPU: not on the event loop's turn.
    _, html = await asyncio.to_thread(build, inputs, catalog, today, brand=brand)
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-store"})
