"""The calls list pages through live calls and stored records, newest first, with a cursor."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.analytics import CallFacts, build_record
from voicegrid.catalog import load_catalog, rate
from voicegrid.store.call_records import iter_call_records, write_call_records
from voicegrid.telephony.book import Call, CallState


async def test_the_calls_list_pages_live_and_stored_calls_newest_first_to_the_end(
    run: Running, world: World
) -> None:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    records = _stored(world, start)
    await write_call_records(run.platform.services.sessions, records)
    control = run.platform.services.calls.control if run.platform.services.calls else None
    assert control is not None
    for n, minutes in ((5, 10), (6, 2)):  # on this node: one newer than every record, one between
        live = Call(f"call_live_{n}", "inbound", f"live{n}@test", state=CallState.UP)
        live.business_id, live.created_at = world.business_a1, start + timedelta(minutes=minutes, seconds=30)
        control.book.keep(live)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        path = f"/v1/businesses/{world.business_a1}/calls?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await run.ok("GET", path)
        assert len(page["items"]) <= 2
        assert page["data"] == page["items"]  # the deprecated name, for a while
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    newest_first = ["call_live_5", "call_page_4", "call_page_3", "call_live_6", "call_page_2"]
    assert seen == [*newest_first, "call_page_1", "call_page_0"]


def _stored(world: World, start: datetime) -> list[dict[str, Any]]:
    """Five records of business A1, a minute apart; the last two share a time (the id breaks the tie)."""
    records = []
    for n in range(5):
        at = start + timedelta(minutes=n if n != 4 else 3)
        facts = CallFacts(
            id=f"call_page_{n}", sip_call_id=f"{n}@test", direction="inbound", business_id=world.business_a1,
            agent_id=None, from_number=None, to=None, trunk_id=None, node=None, created_at=at,
            answered_at=at, ended_at=at + timedelta(seconds=30), outcome="completed", ended_by="remote",
        )  # fmt: skip
        cost = rate(load_catalog(), [], direction="inbound", answered_seconds=30)
        records.append(build_record(facts, {"usage": [], "transcript": [], "turns": []}, cost).document())
    return records


async def test_an_export_read_in_batches_smaller_than_the_range_has_every_record_once_oldest_first(
    run: Running, world: World
) -> None:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    await write_call_records(run.platform.services.sessions, _stored(world, start))
    for batch in (1, 2, 3, 5, 100):  # a batch boundary between the two records of the same time, too
        found: list[str] = []
        async with run.platform.services.sessions() as session:
            last = start + timedelta(days=1)
            async for r in iter_call_records(session, world.business_a1, start, last, batch=batch):
                found.append(r["id"])
                if len(found) > 10:  # a keyset that repeats a record would never end
                    break
        assert found == [f"call_page_{n}" for n in (0, 1, 2, 3, 4)], batch


async def test_a_calls_cursor_the_api_did_not_hand_out_gets_422(run: Running, world: World) -> None:
    base = f"/v1/businesses/{world.business_a1}/calls"
    key = world.key("business", "admin")
    for cursor in ("not-base64!", "bm8tc2VwYXJhdG9y", "MjAyNi0xMS0yNHxjYWxsXzE"):  # no "|"; a naive time
        response = await run.as_key(key, "GET", f"{base}?cursor={cursor}")
        assert response.status_code == 422, (cursor, response.text)
