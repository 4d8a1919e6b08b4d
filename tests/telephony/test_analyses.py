"""Each answered call of an agent with an analysis plan is analysed after its record is stored: by the
embedded engine in a worker process, or by the business's model (here OpenAI's emulator), with the
result in the record, its cost an item of the record's cost, the day's rollup, the list's filters
and the business's `call.analyzed` webhook."""

import functools
import json
import multiprocessing
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.receiver import Receiver
from tests.support.store import store_with
from voicegrid.analytics import Journal, Recorder
from voicegrid.analytics.rollup import record_deltas
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.catalog import load_catalog
from voicegrid.core.clock import utcnow
from voicegrid.core.egress import PERMISSIVE
from voicegrid.demo import KNOWLEDGE
from voicegrid.pipeline.gating import PlanLimit, ProviderSlots
from voicegrid.store.call_records import get_call_record, list_call_records, write_call_records
from voicegrid.store.models import Agent, CallRecord, Credential
from voicegrid.store.rollups import call_rollups
from voicegrid.telephony.analyses import Analyses
from voicegrid.telephony.book import Call, CallState, EndedConversation
from voicegrid.telephony.records import CallRecords
from voicegrid.tenancy import SecretBox
from voicegrid.testing.emulators.openai import OpenAiEmulator
from voicegrid.voice_agents import VoiceAgentFactory

KEY = "sk-analysis-test"
SCHEMA = {
    "type": "object",
    "properties": {
        "party_size": {"type": "integer", "minimum": 1},
        "date": {"type": "string", "format": "date"},
        "phone": {"type": "string"},
    },
    "required": ["date"],
}
TRANSCRIPT = [
    {"speaker": "agent", "text": "Hello, thank you for calling Bella Pizza. How can I help you?"},
    {"speaker": "caller", "text": "are you open tonight"},
    {"speaker": "agent", "text": "We are open every day from 11 am to 10 pm."},
    {"speaker": "caller", "text": "then a table for four people tomorrow at seven pm please"},
    {"speaker": "agent", "text": "Thank you for calling. Goodbye!"},
]


@dataclass
class Platform:
    sessions: async_sessionmaker[AsyncSession]
    records: CallRecords
    recorder: Recorder
    receiver: Receiver
    factory: VoiceAgentFactory


@pytest.fixture
async def platform(database_url: str, tmp_path: Path) -> AsyncIterator[Platform]:
    receiver = Receiver()
    await receiver.start()
    engine, sessions = await store_with(database_url, "biz_1", webhook_url=receiver.url)
    recorder = Recorder(
        Journal(tmp_path / "journal"), functools.partial(write_call_records, sessions, deltas=record_deltas)
    )
    sender = WebhookSender(
        tmp_path / "webhooks", lambda _: b"k" * 32, destinations=PERMISSIVE, backoff_s=0.01
    )
    await sender.start()
    secrets = SecretBox(os.urandom(32))
    slots = ProviderSlots({("llm", "openai"): PlanLimit(slots=10)})
    factory = VoiceAgentFactory(sessions, secrets, tmp_path, destinations=PERMISSIVE, slots=slots)
    records = CallRecords(recorder, load_catalog(), sessions, webhooks=sender)
    try:
        yield Platform(sessions, records, recorder, receiver, factory)
    finally:
        await records.aclose()
        await sender.aclose()
        await receiver.stop()
        await engine.dispose()


async def add_agent(
    platform: Platform, analysis: dict[str, Any], emulator: OpenAiEmulator | None = None
) -> None:
    async with platform.sessions() as session:
        if emulator is not None:
            session.add(
                Credential(
                    id="crd_1",
                    business_id="biz_1",
                    name="openai",
                    provider="openai",
                    base_url=f"{emulator.http_url}/v1",
                    secret_enc=platform.factory.secrets.encrypt(KEY, "credential:crd_1"),
                    secret_hint="test",
                )
            )
        session.add(
            Agent(
                id="agt_1",
                business_id="biz_1",
                name="Bella",
                knowledge_base=KNOWLEDGE,
                stt={"provider": "pocketsphinx"},
                llm={"provider": "knowledge-base"},
                tts={"provider": "espeak-ng"},
                analysis=analysis,
            )
        )
        await session.commit()


async def end_call(platform: Platform, call_id: str, transcript: list[dict[str, Any]] = TRANSCRIPT) -> None:
    """A call of agt_1 ends and its record is stored (the analysis is queued as it is)."""
    started = utcnow() - timedelta(minutes=2)
    call = Call(
        call_id, "inbound", f"{call_id}@test", state=CallState.ENDED, business_id="biz_1", agent_id="agt_1"
    )
    call.created_at, call.answered_at, call.ended_at = started, started, started + timedelta(seconds=40)
    call.outcome, call.ended_by = "completed", "agent"
    tools = [{"type": "tool", "at": 1.0, "name": "end_call", "arguments": "{}", "result": "ok", "ok": True}]
    summary = {"transcript": transcript, "usage": [], "turns": [], "tools": tools}
    call.conversation = EndedConversation(summary)
    platform.records.ended(call)
    await platform.records.aclose()
    assert await platform.recorder.drain() == 1


async def analyse_due(platform: Platform) -> Analyses:
    """One round of the runner, as a node runs it (a worker process for the embedded engine)."""
    analyses = Analyses(platform.sessions, platform.records, load_catalog(), platform.factory.analysis_llm)
    analyses.start()
    try:
        await analyses.tick()
        await analyses.wait_idle()
    finally:
        await analyses.aclose()
    return analyses


async def stored(platform: Platform, call_id: str) -> dict[str, Any]:
    async with platform.sessions() as session:
        record = await get_call_record(session, "biz_1", call_id)
    assert record is not None
    return record


def events(receiver: Receiver, name: str) -> list[dict[str, Any]]:
    return [e["data"] for e in (json.loads(r.body) for r in receiver.received) if e["event"] == name]


async def test_an_answered_call_is_analysed_offline_after_its_record_is_stored_and_the_business_hears_of_it(
    platform: Platform,
) -> None:
    await add_agent(platform, {"schema": SCHEMA})
    await end_call(platform, "call_a1")
    assert (await stored(platform, "call_a1"))["analysis"] == {"status": "pending", "engine": "embedded"}
    analyses = await analyse_due(platform)
    record = await stored(platform, "call_a1")
    analysis = record["analysis"]
    assert analysis["status"] == "done"
    assert analysis["engine"] == "embedded"
    assert analysis["intents"] == [{"intent": "When are you open?", "answered": True}]
    assert (analysis["tools"], analysis["outcome"]) == (["end_call"], "completed")
    assert {"kind": "count", "text": "4 people", "value": "4 people"} in analysis["entities"]
    assert analysis["extracted"]["party_size"] == 4
    assert analysis["success"]["passed"] is True
    assert analysis["cost"] == 0.0
    assert analysis["attempts"] == 1
    assert analyses.counts.done == 1
    await platform.records.aclose()
    await platform.receiver.wait_for(2)  # call.ended, then call.analyzed
    (event,) = events(platform.receiver, "call.analyzed")
    assert event["id"] == "call_a1"
    assert event["analysis"] == analysis
    async with platform.sessions() as session:
        passed = await list_call_records(session, "biz_1", success=True)
        failed = await list_call_records(session, "biz_1", success=False)
        by_field = await list_call_records(session, "biz_1", field=("party_size", "4"))
        other = await list_call_records(session, "biz_1", field=("party_size", "5"))
        day = record["created_at"][:10]
        (rollup,) = await call_rollups(session, "biz_1", day, day)
    assert ([r["id"] for r in passed], failed) == (["call_a1"], [])
    assert ([r["id"] for r in by_field], other) == (["call_a1"], [])
    assert (rollup["analyzed"], rollup["succeeded"]) == (1, 1)
    assert rollup["intents"] == {"When are you open?": 1}
    assert rollup["intents_answered"] == {"When are you open?": 1}


def answer(**fields: Any) -> str:
    return json.dumps(
        {
            "summary": "The caller booked a table for four tomorrow at 7 pm.",
            "success": {"passed": True, "score": None, "reason": "booked"},
            "sentiment": "positive",
            "extracted": {"party_size": 4, "date": "2026-12-03"} | fields,
        }
    )


LLM_PLAN = {"engine": "llm", "llm": {"credential_id": "crd_1", "model": "gpt-4o-mini"}, "schema": SCHEMA}


async def test_the_model_engine_asks_with_the_schema_as_a_structured_output_and_stores_a_valid_answer(
    platform: Platform,
) -> None:
    async with OpenAiEmulator(api_key=KEY, script=[answer(phone="+15550100")]) as emulator:
        await add_agent(platform, LLM_PLAN, emulator)
        await end_call(platform, "call_l1")
        before = await stored(platform, "call_l1")
        await analyse_due(platform)
    (body,) = emulator.bodies
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.0
    assert body["response_format"]["type"] == "json_schema"
    spec = body["response_format"]["json_schema"]
    assert spec["name"] == "call_analysis"
    assert spec["strict"] is False  # the business's schema has optional fields: checked by us instead
    assert spec["schema"]["properties"]["extracted"] == SCHEMA
    assert spec["schema"]["required"] == ["summary", "success", "sentiment", "extracted"]
    assert "tomorrow at seven pm" in body["messages"][1]["content"]
    record = await stored(platform, "call_l1")
    analysis = record["analysis"]
    assert analysis["status"] == "done"
    assert (analysis["engine"], analysis["provider"], analysis["model"]) == ("llm", "openai", "gpt-4o-mini")
    assert analysis["extracted"] == {"party_size": 4, "date": "2026-12-03", "phone": "+15550100"}
    assert analysis["summary"].startswith("The caller booked")
    assert analysis["intents"] == [{"intent": "When are you open?", "answered": True}]  # the call's facts
    items = [i for i in record["cost"]["items"] if i["component"] == "analysis"]
    assert {(i["provider"], i["model"], i["unit"]) for i in items} == {
        ("openai", "gpt-4o-mini", "1m_tokens_in"),
        ("openai", "gpt-4o-mini", "1m_tokens_out"),
    }
    spent = sum(i["amount"] for i in items)
    assert spent > 0
    assert analysis["cost"] == pytest.approx(spent)
    assert record["cost"]["total"] == pytest.approx(before["cost"]["total"] + spent)


@pytest.mark.parametrize("second", ["valid", "invalid"])
async def test_an_invalid_answer_is_asked_again_once_then_recorded_as_failed_never_stored_as_valid(
    platform: Platform, second: str
) -> None:
    wrong = json.dumps({"summary": "x", "success": {"passed": "yes"}, "sentiment": "meh", "extracted": {}})
    script = ["this is not JSON at all", answer() if second == "valid" else wrong]
    async with OpenAiEmulator(api_key=KEY, script=script) as emulator:
        await add_agent(platform, LLM_PLAN, emulator)
        await end_call(platform, "call_l2")
        await analyse_due(platform)
    assert emulator.requests == 2
    analysis = (await stored(platform, "call_l2"))["analysis"]
    if second == "valid":
        assert analysis["status"] == "done"
        assert analysis["extracted"]["party_size"] == 4
        return
    assert analysis["status"] == "failed"
    assert analysis["reason"].startswith("invalid output twice: not JSON")
    assert "does not match the schema at" in analysis["reason"]
    assert (analysis["summary"], analysis["success"], analysis["extracted"]) == (None, None, None)
    assert analysis["cost"] > 0  # the two answers were paid for all the same
    async with platform.sessions() as session:
        assert await list_call_records(session, "biz_1", success=True) == []


async def test_a_model_that_cannot_be_reached_leaves_the_analysis_pending_for_later_and_the_record_stands(
    platform: Platform,
) -> None:
    emulator = OpenAiEmulator(api_key=KEY)
    emulator.port = 9  # discard: nothing listens there
    await add_agent(platform, LLM_PLAN, emulator)
    await end_call(platform, "call_l3")
    analyses = await analyse_due(platform)
    async with platform.sessions() as session:
        row = await session.get(CallRecord, "call_l3")
    assert row is not None
    assert (row.analysis_state, row.analysis_attempts) == ("pending", 1)
    assert row.analysis_due_at > utcnow().timestamp() + 10  # backed off
    assert analyses.counts.retried == 1
    record = await stored(platform, "call_l3")
    assert record["analysis"]["status"] == "pending"
    assert record["transcript"] == TRANSCRIPT


async def test_a_backlog_drains_at_the_node_s_rate_so_it_never_crowds_live_calls(platform: Platform) -> None:
    await add_agent(platform, {})
    for n in range(5):
        await end_call(platform, f"call_r{n}")
    analyses = Analyses(
        platform.sessions,
        platform.records,
        load_catalog(),
        platform.factory.analysis_llm,
        concurrency=8,
        per_business=8,
        per_second=2.0,
        clock=lambda: 100.0,  # no time passes between the ticks, however slow the machine
    )
    try:  # ticks by hand, without the runner's own loop
        assert await analyses.tick() == 2  # a second's worth
        assert await analyses.tick() == 0  # the next analyses wait for the rate, not for room
        await analyses.wait_idle()
    finally:
        await analyses.aclose()
    async with platform.sessions() as session:
        pending = await session.scalar(select(func.count()).where(CallRecord.analysis_state == "pending"))
    assert pending == 3  # still queued: taken up at the next ticks


async def test_a_worker_process_that_dies_is_replaced_and_its_analysis_done_on_the_next_try(
    platform: Platform,
) -> None:
    await add_agent(platform, {})
    await end_call(platform, "call_w1")
    seconds = [0.0]  # the rate's clock: a second passes before each tick, however fast the machine
    analyses = Analyses(
        platform.sessions,
        platform.records,
        load_catalog(),
        platform.factory.analysis_llm,
        clock=lambda: seconds[0],
    )
    try:
        await analyses.tick()
        await analyses.wait_idle()
        assert analyses.counts.done == 1  # the worker exists now
        for child in multiprocessing.active_children():
            child.kill()  # out of memory, or an operator's kill
            child.join(5)
        await end_call(platform, "call_w2")
        seconds[0] += 1
        await analyses.tick()
        await analyses.wait_idle()
        assert analyses.counts.retried == 1  # the dead worker's analysis went back to the queue
        seconds[0] += 1
        await analyses.tick(time.time() + 60)  # past its backoff
        await analyses.wait_idle()
    finally:
        await analyses.aclose()
    assert analyses.counts.done == 2
    assert (await stored(platform, "call_w2"))["analysis"]["status"] == "done"
