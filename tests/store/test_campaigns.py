"""Campaigns in the database: their state and settings change by compare-and-set (a request that
read the campaign before another request or a node moved it changes nothing), and their results are
the sums of their own calls' records."""

from datetime import UTC, datetime

from tests.support.store import store_with
from voicegrid.store import campaigns as store
from voicegrid.store.models import Agent, CallRecord, Campaign, CampaignAttempt, CampaignContact


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


async def test_a_campaigns_results_sum_its_own_calls_records_only(database_url: str) -> None:
    engine, sessions = await store_with(database_url, "biz_1", "biz_2")
    at = datetime(2026, 12, 5, 12, tzinfo=UTC)

    def record(call_id: str, business: str, cost: float, ok: bool | None) -> CallRecord:
        return CallRecord(
            id=call_id, business_id=business, direction="outbound", created_at=at, cost_total=cost,
            billable_total=2 * cost, analysis_success=ok,
        )  # fmt: skip

    talked = [30.0, 90.0, 0.0, 0.0, 60.0]  # each attempt's, answer to hang-up

    try:
        async with sessions() as session:
            session.add(Agent(id="agt_1", business_id="biz_1", name="a", stt={}, llm={}, tts={}))
            await session.flush()
            session.add(Campaign(id="cmp_1", business_id="biz_1", name="c", agent_id="agt_1"))
            session.add(Campaign(id="cmp_2", business_id="biz_1", name="d", agent_id="agt_1"))
            await session.flush()
            for n, campaign in enumerate(("cmp_1", "cmp_1", "cmp_1", "cmp_1", "cmp_2")):
                session.add(CampaignContact(id=f"cct_{n}", campaign_id=campaign, row=n + 2,
                                            number=f"+1212555010{n}", timezone="UTC"))  # fmt: skip
                await session.flush()
                session.add(CampaignAttempt(id=f"call_{n}", campaign_id=campaign, contact_id=f"cct_{n}",
                                            attempt=1, runner="r", state="ended",
                                            talk_s=talked[n]))  # fmt: skip
            session.add_all(
                [
                    record("call_0", "biz_1", 0.01, True),
                    record("call_1", "biz_1", 0.03, False),
                    record("call_2", "biz_1", 0.002, None),  # busy: not answered, not analysed
                    # call_3 has no record yet (its call has not ended)
                    record("call_4", "biz_1", 1.0, True),  # another campaign's
                    record("call_9", "biz_1", 1.0, True),  # no campaign's
                ]
            )
            await session.commit()
        async with sessions() as session:
            got = await store.results(session, "biz_1", "cmp_1")
            assert await store.results(session, "biz_2", "cmp_1") == store.Results(0, 0, 0.0, 0.0, 0.0, 0, 0)
        assert (got.calls, got.answered, got.analyzed, got.succeeded) == (3, 2, 2, 1)
        assert got.talk_s == 120.0
        assert round(got.cost, 6) == 0.042
        assert round(got.billable, 6) == 0.084
    finally:
        await engine.dispose()
