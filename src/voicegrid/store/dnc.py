"""Do-not-call lists in the database: a business's own, and its reseller's for all its businesses."""

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.core.ids import new_id
from voicegrid.store.models import DoNotCall


async def blocked(session: AsyncSession, owners: Iterable[str], number: str) -> bool:
    """Whether `number` (E.164) is on the list of any of `owners` (the business, its reseller)."""
    found = await session.scalar(
        select(DoNotCall.id).where(DoNotCall.number == number, DoNotCall.owner.in_(list(owners))).limit(1)
    )
    return found is not None


async def add(session: AsyncSession, owner: str, entries: list[tuple[str, str]]) -> tuple[int, int]:
    """Add (number, reason) pairs to `owner`'s list (not committed); (added, already listed)."""
    numbers = [n for n, _ in entries]
    listed: set[str] = set()
    for start in range(0, len(numbers), 1000):
        listed.update(
            (
                await session.scalars(
                    select(DoNotCall.number).where(
                        DoNotCall.owner == owner, DoNotCall.number.in_(numbers[start : start + 1000])
                    )
                )
            ).all()
        )
    fresh = [(n, r) for n, r in entries if n not in listed]
    session.add_all(DoNotCall(id=new_id("dnc"), owner=owner, number=n, reason=r[:200]) for n, r in fresh)
    return len(fresh), len(entries) - len(fresh)


async def remove(session: AsyncSession, owner: str, number: str) -> bool:
    """Take `number` off `owner`'s list (not committed); whether it was on it."""
    listed = (DoNotCall.owner == owner) & (DoNotCall.number == number)
    gone = await session.scalars(delete(DoNotCall).where(listed).returning(DoNotCall.id))
    return gone.first() is not None
