"""Call records written in batches: each stored once, each new one counted once in the rollups, the
same as writing them one at a time."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from tests.api.test_analytics import record
from tests.support.store import store_with
from voicegrid.analytics.rollup import record_deltas
from voicegrid.store.call_records import erase_content, get_call_record, write_call_records
from voicegrid.store.models import CallRecord
from voicegrid.store.rollups import call_rollups, provider_rollups


def calls_of(business: str) -> list[dict[str, Any]]:
    """Six calls on two days, of two agents, both directions, with their own ids per business."""
    out = []
    for n in range(6):
        one = record(n, business, 20 + n % 2, "agt_a" if n < 4 else "agt_b", [700.0 + 10 * n, 1100.0],
                     direction="outbound" if n == 3 else "inbound")  # fmt: skip
        one["id"] = f"{business}_call_{n}"
        one["transcript"] = [{"speaker": "caller", "text": f"table for {n}", "at": 1.0}]
        out.append(one)
    return out


def without_business(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in r.items() if k != "business_id"} for r in rows), key=repr)


async def test_a_batch_stores_and_counts_its_records_as_writing_them_one_at_a_time_does(
    database_url: str,
) -> None:
    engine, sessions = await store_with(database_url, "biz_batch", "biz_single")
    gone = calls_of("biz_gone")[0]  # a deleted business's record: not written
    batch = calls_of("biz_batch")
    single = calls_of("biz_single")
    # The journal can hand the store a record twice: in one batch, and again after a replay.
    await write_call_records(sessions, [*batch, batch[1], gone], deltas=record_deltas)
    await write_call_records(sessions, batch[:2], deltas=record_deltas)
    for one in [*single, single[1], gone, *single[:2]]:
        await write_call_records(sessions, [one], deltas=record_deltas)

    async with sessions() as session:
        stored = dict(
            (
                await session.execute(
                    select(CallRecord.business_id, func.count()).group_by(CallRecord.business_id)
                )
            ).all()
        )
        assert stored == {"biz_batch": 6, "biz_single": 6}
        by_call = {
            b: await call_rollups(session, b, "2026-11-01", "2026-11-30") for b in ("biz_batch", "biz_single")
        }
        by_provider = {
            b: await provider_rollups(session, b, "2026-11-01", "2026-11-30")
            for b in ("biz_batch", "biz_single")
        }
        first = await get_call_record(session, "biz_batch", "biz_batch_call_1")
    assert sum(r["calls"] for r in by_call["biz_batch"]) == 6  # each counted once
    assert (
        len(by_call["biz_batch"]) == 5
    )  # by day, agent and direction: 20/a/in, 21/a/in, 21/a/out, 20/b/in, 21/b/in
    assert without_business(by_call["biz_batch"]) == without_business(by_call["biz_single"])
    assert without_business(by_provider["biz_batch"]) == without_business(by_provider["biz_single"])
    assert first is not None
    assert first["id"] == "biz_batch_call_1"
    await engine.dispose()


async def test_a_record_whose_content_was_erased_stays_erased_when_its_batch_is_written_again(
    database_url: str,
) -> None:
    engine, sessions = await store_with(database_url, "biz_1")
    calls = calls_of("biz_1")
    await write_call_records(sessions, calls, deltas=record_deltas)
    async with sessions() as session:
        assert await erase_content(session, "biz_1", "biz_1_call_2", datetime.now(UTC))
    await write_call_records(sessions, calls, deltas=record_deltas)  # the journal replayed
    async with sessions() as session:
        erased = await get_call_record(session, "biz_1", "biz_1_call_2")
        kept = await get_call_record(session, "biz_1", "biz_1_call_3")
        rollups = await call_rollups(session, "biz_1", "2026-11-01", "2026-11-30")
    assert erased is not None
    assert erased["transcript"] == []
    assert erased["content_erased_at"]
    assert kept is not None
    assert kept["transcript"][0]["text"] == "table for 3"
    assert sum(r["calls"] for r in rollups) == 6
    await engine.dispose()
