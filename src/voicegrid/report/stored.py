"""A business's own figures for the report: its call records over a range of days, and its reseller's
branding (the one place the report reads the database; the CLI and the API both come here)."""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.report.figures import Inputs
from voicegrid.report.render import Branding
from voicegrid.report.sources import from_records
from voicegrid.store.call_records import iter_call_records
from voicegrid.store.models import Business, Reseller

MAX_RECORDS = 200_000  # a range larger than this is read up to it (the figures scale by days covered)


async def branding_of(session: AsyncSession, business: Business) -> Branding:
    return await reseller_branding(session, business.reseller_id)


async def reseller_branding(session: AsyncSession, reseller_id: str) -> Branding:
    """A reseller's product name, colours and support address (the platform's defaults without one)."""
    reseller = await session.get(Reseller, reseller_id)
    if reseller is None:
        return Branding()
    default = Branding()
    return Branding(
        product=reseller.product_name or reseller.name or default.product,
        primary=reseller.primary_color or default.primary,
        accent=reseller.accent_color or default.accent,
        support_email=reseller.support_email,
    )


async def business_inputs(session: AsyncSession, business: Business, first: date, last: date) -> Inputs:
    """The business's records from `first` to `last` (whole UTC days) as report inputs; ValueError
    when there is none."""
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last, time(), UTC) + timedelta(days=1)
    records = []
    async for record in iter_call_records(session, business.id, start, end):
        records.append(record)
        if len(records) >= MAX_RECORDS:
            break
    days = (end - start).total_seconds() / 86400
    if records:  # a range longer than the records: the days they cover, at least one
        oldest = datetime.fromisoformat(records[0]["created_at"])
        days = max(1.0, (end - max(start, oldest)).total_seconds() / 86400)
    count = f"{len(records)} call record{'' if len(records) == 1 else 's'}"
    source = f"{count} of {business.name}, {first.isoformat()} to {last.isoformat()}"
    return from_records(records, days, source, business.name)
