"""Class 5: no call record is ever lost, and erasure is final."""

import asyncio
import functools
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.support.receiver import Receiver
from tests.support.store import store_with
from voicegrid.analytics import Journal, Recorder
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.catalog import load_catalog
from voicegrid.core.clock import utcnow
from voicegrid.core.egress import PERMISSIVE
from voicegrid.store import make_engine, make_sessionmaker
from voicegrid.store.call_records import erase_content, get_call_record, record_refused, write_call_records
from voicegrid.store.models import Business
from voicegrid.telephony.book import Call, CallState, EndedConversation
from voicegrid.telephony.records import CallRecords


def _record(call_id: str, **extra: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": call_id,
        "business_id": "biz_1",
        "direction": "inbound",
        "outcome": "completed",
        "created_at": now.isoformat(),
        "ended_at": now.isoformat(),
        "duration_s": 1.0,
        "transcript": [{"speaker": "caller", "text": "hello"}],
        **extra,
    }


async def _store(database_url: str) -> Any:
    return await store_with(database_url, "biz_1")


async def _until(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within the time")


async def test_the_record_drain_outlives_its_own_failures_and_shows_them_until_they_clear(
    database_url: str, tmp_path: Path
) -> None:
    engine, sessions = await _store(database_url)
    journal = Journal(tmp_path / "journal")
    recorder = Recorder(
        journal, functools.partial(write_call_records, sessions), retry_s=0.02, max_retry_s=0.1
    )
    await journal.append(_record("call_1"))
    journal.offset_file.mkdir(parents=True)  # the journal's own bookkeeping breaks: every mark fails
    recorder.start()
    try:
        await _until(lambda: not recorder.healthy)
        assert recorder._task is not None
        assert not recorder._task.done()  # alive, retrying
        assert "IsADirectoryError" in recorder.last_error
        journal.offset_file.rmdir()
        await _until(lambda: recorder.healthy)
        assert recorder.last_error == ""
    finally:
        await recorder.aclose()
    async with sessions() as session:
        assert await get_call_record(session, "biz_1", "call_1") is not None
    await engine.dispose()


async def test_one_record_the_store_refuses_is_set_aside_with_its_reason_and_the_rest_are_stored(
    database_url: str, tmp_path: Path
) -> None:
    engine, sessions = await _store(database_url)
    journal = Journal(tmp_path / "journal")
    recorder = Recorder(journal, functools.partial(write_call_records, sessions), refused=record_refused)
    await recorder.record(_record("call_a"))
    await recorder.record(_record("call_bad", created_at="the day before yesterday"))
    await recorder.record(_record("call_b"))
    assert await recorder.drain() == 2
    async with sessions() as session:
        assert await get_call_record(session, "biz_1", "call_a") is not None
        assert await get_call_record(session, "biz_1", "call_b") is not None
        assert await get_call_record(session, "biz_1", "call_bad") is None
    (aside,) = [json.loads(line) for line in recorder.dead_letter.read_text().splitlines()]
    assert aside["record"]["id"] == "call_bad"
    assert "ValueError" in aside["reason"]
    assert recorder.dead_lettered == 1
    assert (await journal.pending())[0] == []  # nothing left behind the refused one
    await engine.dispose()


async def test_while_the_database_is_away_calls_are_still_masked_and_announced(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    engine, sessions = await _store(database_url)
    async with sessions() as session:
        business = await session.get(Business, "biz_1")
        assert business is not None
        business.mask_pii, business.webhook_url = True, receiver.url
        await session.commit()
    journal = Journal(tmp_path / "journal")
    recorder = Recorder(journal, functools.partial(write_call_records, sessions))
    sender = WebhookSender(
        tmp_path / "webhooks", lambda _: b"k" * 32, destinations=PERMISSIVE, backoff_s=0.01
    )
    await sender.start()
    records = CallRecords(recorder, load_catalog(), sessions, webhooks=sender)
    assert await records.billing("biz_1") is not None  # read once while the database answers
    away = make_engine("postgresql+asyncpg://nobody:x@127.0.0.1:9/none")  # nothing listens there
    records.sessions = make_sessionmaker(away)
    try:
        for call_id, business_id in (("call_known", "biz_1"), ("call_unknown", "biz_never_seen")):
            call = Call(call_id, "inbound", f"{call_id}@t", state=CallState.ENDED, business_id=business_id)
            call.created_at = call.ended_at = utcnow() - timedelta(seconds=5)
            text = "my card is 4111 1111 1111 1111"
            said = [{"speaker": "caller", "text": text}]
            call.conversation = EndedConversation({"transcript": said, "usage": []})
            records.ended(call)
        await records.aclose()
        await receiver.wait_for(1)
    finally:
        await sender.aclose()
        await receiver.stop()
        await away.dispose()
        await engine.dispose()
    journaled, _ = await journal.pending()
    assert {r["id"]: r["transcript"][0]["text"] for r in journaled} == {
        "call_known": "my card is [card]",  # masked as the cached settings say
        "call_unknown": "my card is [card]",  # settings never read: masked, to be safe
    }
    (event,) = [json.loads(r.body) for r in receiver.received]
    assert (event["event"], event["data"]["id"]) == ("call.ended", "call_known")


async def test_an_erased_record_stays_erased_when_the_journal_is_replayed(database_url: str) -> None:
    engine, sessions = await _store(database_url)
    record = _record("call_e")
    await write_call_records(sessions, [record])
    async with sessions() as session:
        assert await erase_content(session, "biz_1", "call_e", utcnow())
    await write_call_records(sessions, [record])  # the journal replays the original
    async with sessions() as session:
        again = await get_call_record(session, "biz_1", "call_e")
    assert again is not None
    assert again["transcript"] == []
    assert again["content_erased_at"] is not None
    await engine.dispose()
