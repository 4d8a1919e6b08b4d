"""A campaign's state and settings change by compare-and-set: a request that read the campaign
before another request (or a node) moved it changes nothing."""

from tests.support.store import store_with
from voicegrid.store import campaigns as store
from voicegrid.store.models import Agent, Campaign


async def test_a_change_read_before_the_campaign_was_resumed_is_refused_and_changes_nothing(
    database_url: str,
) -> None:
    engine, sessions = await store_with(database_url, "biz_1")
    try:
        async with sessions() as session:
            session.add(Agent(id="agt_1", business_id="biz_1", name="a", stt={}, llm={}, tts={}))
            await session.flush()
            session.add(Campaign(id="cmp_1", business_id="biz_1", name="c", agent_id="agt_1", state="paused"))
            await session.commit()
        async with sessions() as slow, sessions() as quick:
            read = await slow.get(Campaign, "cmp_1")  # the change request reads a paused campaign
            assert read is not None
            assert read.state == "paused"
            assert await store.move(quick, "cmp_1", ("paused",), {"state": "running"})  # resumed
            await quick.commit()
            assert not await store.move(slow, "cmp_1", ("draft", "paused"), {"max_concurrent": 50})
            assert not await store.move(slow, "cmp_1", ("paused",), {"state": "running"})  # twice: no
            await slow.commit()
        async with sessions() as session:
            now = await session.get(Campaign, "cmp_1")
            assert now is not None
            assert (now.state, now.max_concurrent) == ("running", 5)
            assert await store.move(session, "cmp_1", ("running",), {"state": "paused"})
            assert await store.move(session, "cmp_1", ("draft", "paused"), {"max_concurrent": 50})
            await session.commit()
            await session.refresh(now)
            assert (now.state, now.max_concurrent) == ("paused", 50)
    finally:
        await engine.dispose()
