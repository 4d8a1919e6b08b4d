"""Every call leaves a record: journaled first, stored when the database can take it, never dropped."""

import asyncio
import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.store import store_with
from voicegrid.analytics import CallFacts, Journal, Recorder, build_record
from voicegrid.catalog import load_catalog, rate
from voicegrid.store.call_records import get_call_record, list_call_records, write_call_records
from voicegrid.store.models import CallRecord
from voicegrid.testing.postgres_server import PostgresServer, start_postgres


def record(n: int, business: str = "biz_1") -> dict[str, Any]:
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC) + timedelta(minutes=n)
    facts = CallFacts(
        id=f"call_{n:04d}",
        sip_call_id=f"{n}@test",
        direction="inbound",
        business_id=business,
        agent_id="agt_1",
        from_number="+15550001",
        to="+15550100",
        trunk_id=None,
        node="a",
        created_at=start,
        answered_at=start + timedelta(seconds=1),
        ended_at=start + timedelta(seconds=61),
        outcome="completed",
        ended_by="caller",
    )
    usage = [{"stage": "stt", "provider": "deepgram", "model": "nova-3", "audio_seconds": 60.0}]
    conversation = {"transcript": [{"speaker": "caller", "text": f"hello {n}"}], "usage": usage, "turns": []}
    return build_record(
        facts, conversation, rate(load_catalog(), usage, direction="inbound", answered_seconds=60)
    ).document()


async def test_the_journal_hands_back_what_the_store_has_not_confirmed_and_skips_a_torn_line(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal", rotate_bytes=1)
    for n in range(3):
        await journal.append(record(n))
    pending, offset = await journal.pending()
    assert [r["id"] for r in pending] == ["call_0000", "call_0001", "call_0002"]
    with journal.log.open("ab") as f:
        f.write(b'{"id": "torn-by-a-cra')  # the process died mid-write
    await journal.mark(offset)
    assert (await journal.pending())[0] == []  # the torn tail is not a record yet
    journal = Journal(tmp_path / "journal", rotate_bytes=1)  # the next process
    await journal.append(record(3))  # closes the torn line and starts clean
    pending, offset = await journal.pending()
    assert [r["id"] for r in pending] == ["call_0003"]
    await journal.mark(offset)
    assert not journal.log.exists()  # all stored and over the (tiny) size: started afresh
    await journal.append(record(4))
    assert [r["id"] for r in (await journal.pending())[0]] == ["call_0004"]


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A database of its own: this test takes it down."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


async def test_records_made_while_the_database_is_down_wait_in_the_journal_and_are_all_stored_when_it_returns(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    engine, sessions = await store_with(own_postgres.url(), "biz_1")  # records are kept for businesses
    recorder = Recorder(
        Journal(tmp_path / "journal"),
        functools.partial(write_call_records, sessions),
        retry_s=0.2,
        timeout_s=3,
    )
    recorder.start()

    async def stored_count(expected: int) -> None:
        deadline = time.monotonic() + 30
        while recorder.stored < expected:
            assert time.monotonic() < deadline, f"stored {recorder.stored} of {expected}"
            await asyncio.sleep(0.05)

    try:
        for n in range(3):
            await recorder.record(record(n))
        await stored_count(3)
        await asyncio.to_thread(own_postgres.halt)
        for n in range(3, 6):
            await recorder.record(record(n))  # returns at once: the journal has it
        deadline = time.monotonic() + 10
        while recorder.store_ok:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert recorder.stored == 3
        assert [r["id"] for r in (await recorder.journal.pending())[0]] == [
            "call_0003",
            "call_0004",
            "call_0005",
        ]
        await asyncio.to_thread(own_postgres.restart)
        await stored_count(6)
        assert recorder.store_ok
    finally:
        await recorder.aclose()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CallRecord)) == 6
        whole = await get_call_record(session, "biz_1", "call_0004")
        assert whole == record(4)  # the complete record, as it was built
        assert await get_call_record(session, "biz_2", "call_0004") is None  # never another business's
        listed = await list_call_records(session, "biz_1", limit=4)
        assert [r["id"] for r in listed] == ["call_0005", "call_0004", "call_0003", "call_0002"]
    # A replay of the whole journal (a crash before the offset was saved) changes nothing.
    await write_call_records(sessions, [record(n) for n in range(6)])
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CallRecord)) == 6
    await engine.dispose()


async def test_records_ending_close_together_are_stored_in_one_batch_after_the_gathering_wait(
    tmp_path: Path,
) -> None:
    batches: list[list[str]] = []

    async def write(records: list[dict[str, Any]]) -> None:
        batches.append([r["id"] for r in records])

    recorder = Recorder(Journal(tmp_path / "journal"), write, gather_s=1.0)
    recorder.start()
    try:
        await asyncio.sleep(0.05)  # its first drain, of an empty journal
        started = time.monotonic()
        for n in range(4):  # journaled one after the other, well within the wait
            await recorder.record(record(n))
        while recorder.stored < 4:
            assert time.monotonic() - started < 30, f"stored {recorder.stored} of 4"
            await asyncio.sleep(0.05)
        assert time.monotonic() - started >= 1.0  # nothing was stored before the wait was over
        assert batches == [["call_0000", "call_0001", "call_0002", "call_0003"]]
    finally:
        await recorder.aclose()
