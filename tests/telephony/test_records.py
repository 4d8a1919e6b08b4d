"""A finished call becomes its stored record, masked if its business asks, and an event to its webhook;
retention erases old content."""

import functools
import json
import time
from datetime import timedelta
from pathlib import Path

from tests.support.receiver import Receiver
from tests.support.store import store_with
from voicegrid.analytics import Journal, Recorder
from voicegrid.analytics.rollup import record_deltas
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.catalog import load_catalog
from voicegrid.core.clock import utcnow
from voicegrid.core.egress import PERMISSIVE
from voicegrid.core.webhooks import verify
from voicegrid.store.call_records import get_call_record, write_call_records
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.book import Call, CallState, EndedConversation
from voicegrid.telephony.records import CallRecords, Retention


async def test_a_call_of_a_masking_business_is_stored_masked_and_retention_later_erases_its_content(
    database_url: str, tmp_path: Path
) -> None:
    engine, sessions = await store_with(database_url, "biz_1", mask_pii=True, retention_days=30)
    recorder = Recorder(
        Journal(tmp_path / "journal"), functools.partial(write_call_records, sessions, deltas=record_deltas)
    )
    records = CallRecords(recorder, load_catalog(), sessions, node="a")
    started = utcnow() - timedelta(minutes=3)
    call = Call(
        "call_rec_1", "inbound", "1@test", state=CallState.ENDED, business_id="biz_1", agent_id="agt_1"
    )
    call.created_at, call.answered_at, call.ended_at = (
        started,
        started + timedelta(seconds=2),
        started + timedelta(seconds=92),
    )
    call.outcome, call.ended_by, call.from_number = "completed", "remote", "+15550001"
    transcript = [{"speaker": "caller", "text": "my card is 4111 1111 1111 1111, call me on 555 010 0199"}]
    call.conversation = EndedConversation({"transcript": transcript, "usage": [], "turns": []})
    call.agent = EchoAgent()  # what carried the call, until its record is made
    records.ended(call)
    await records.aclose()
    assert call.agent is None
    assert await recorder.drain() == 1
    async with sessions() as session:
        stored = await get_call_record(session, "biz_1", "call_rec_1")
    assert stored is not None
    assert stored["transcript"][0]["text"] == "my card is [card], call me on [phone]"
    assert stored["from"] == "+15550001"  # the parties stay: routing and billing facts
    assert stored["pii_masked"] is True

    recordings = tmp_path / "recordings"
    (recordings / "biz_1").mkdir(parents=True)
    (recordings / "biz_1" / "call_rec_1.wav").write_bytes(b"RIFF")
    retention = Retention(sessions, recordings)
    assert await retention.sweep(now=utcnow()) == 0  # 3 minutes old: kept
    assert await retention.sweep(now=utcnow() + timedelta(days=31)) == 1
    assert await retention.sweep(now=utcnow() + timedelta(days=31)) == 0  # once is enough
    async with sessions() as session:
        erased = await get_call_record(session, "biz_1", "call_rec_1")
    assert erased is not None
    assert (erased["transcript"], erased["cost"]) == ([], stored["cost"])
    assert not (recordings / "biz_1" / "call_rec_1.wav").exists()
    await engine.dispose()


async def test_a_business_with_a_webhook_hears_call_started_and_call_ended_with_the_whole_record(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    engine, sessions = await store_with(database_url, "biz_1", webhook_url=receiver.url)
    recorder = Recorder(Journal(tmp_path / "journal"), functools.partial(write_call_records, sessions))
    key = b"business-key-32-bytes-long......"
    sender = WebhookSender(tmp_path / "webhooks", lambda _: key, destinations=PERMISSIVE, backoff_s=0.01)
    await sender.start()
    records = CallRecords(recorder, load_catalog(), sessions, webhooks=sender)
    call = Call(
        "call_hook_1", "outbound", "2@test", state=CallState.UP, business_id="biz_1", agent_id="agt_1"
    )
    call.answered_at = utcnow()
    records.answered(call)
    call.state, call.ended_at, call.outcome = CallState.ENDED, utcnow(), "completed"
    records.ended(call)
    await records.aclose()
    try:
        await receiver.wait_for(2)
    finally:
        await sender.aclose()
        await receiver.stop()
        await engine.dispose()
    events = {e["event"]: e["data"] for e in (json.loads(r.body) for r in receiver.received)}
    assert set(events) == {"call.started", "call.ended"}  # in no promised order: each says its times
    assert events["call.started"]["id"] == "call_hook_1"
    assert call.call_record is not None
    assert events["call.ended"] == call.call_record.document()  # the whole record
    assert all(
        verify(key, r.body, r.headers["x-voicegrid-signature"], time.time()) for r in receiver.received
    )
