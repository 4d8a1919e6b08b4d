"""A migrated database with the reseller every test's businesses belong to (`res_1`, Acme)."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voicegrid.store import make_engine, make_sessionmaker, upgrade
from voicegrid.store.models import Business, Reseller


async def store_with(
    database_url: str, *businesses: str, **settings: Any
) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """The database at `database_url`, migrated, holding each of `businesses` (by id, all named Bella),
    each with `settings` (mask_pii, webhook_url, ...)."""
    engine = make_engine(database_url)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        session.add(Reseller(id="res_1", name="Acme"))
        await session.flush()  # the businesses refer to it
        session.add_all(Business(id=b, reseller_id="res_1", name="Bella", **settings) for b in businesses)
        await session.commit()
    return engine, sessions
