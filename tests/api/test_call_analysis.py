"""Post-call analysis through the API: an agent's plan is checked when saved; analysed calls are
listed by success and by an extracted field, summed per agent and day, ranked by intent and
exported."""

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.analytics import CallFacts, build_record
from voicegrid.analytics.rollup import record_deltas
from voicegrid.catalog import load_catalog, rate
from voicegrid.demo import KNOWLEDGE
from voicegrid.store.call_records import write_call_records
from voicegrid.telephony.analyses import Analyses

SCHEMA = {
    "type": "object",
    "properties": {"party_size": {"type": "integer"}, "date": {"type": "string", "format": "date"}},
}


async def agent(run: Running, business: str, **fields: Any) -> Any:
    body = {"name": "Bella", "knowledge_base": KNOWLEDGE, **fields}
    return await run.admin("POST", f"/v1/businesses/{business}/agents", json=body)


WIDE = {f"f{i}": {"type": "string", "description": "x" * 300} for i in range(60)}
BAD = [
    ({"type": "object", "properties": {"n": {"type": "text"}}}, "not valid JSON Schema at properties/n/type"),
    ({"type": "object", "properties": WIDE}, "bytes of JSON"),
    (
        {"type": "object", "properties": {"n": {"type": "string", "pattern": "(a|a)*$"}}},
        "regular expressions",
    ),
    ([1, 2], "valid dictionary"),
]


@pytest.mark.parametrize(("schema", "reason"), BAD)
async def test_a_schema_that_is_not_valid_json_schema_or_too_large_is_refused_at_save_time_with_the_reason(
    run: Running, world: World, schema: Any, reason: str
) -> None:
    refused = await agent(run, world.business_a1, analysis={"schema": schema})
    assert refused.status_code == 422
    assert reason in refused.text
    created = await agent(run, world.business_a1, analysis={"schema": SCHEMA})
    assert created.status_code == 201, created.text
    assert created.json()["analysis"]["schema"] == SCHEMA
    path = f"/v1/businesses/{world.business_a1}/agents/{created.json()['id']}"
    patched = await run.admin("PATCH", path, json={"analysis": {"schema": schema}})
    assert patched.status_code == 422
    assert reason in patched.text
    assert (await run.ok("GET", path))["analysis"]["schema"] == SCHEMA  # unchanged


async def test_the_model_engine_takes_only_a_credential_of_the_agent_s_own_business(
    run: Running, world: World
) -> None:
    other = await run.ok(
        "POST",
        f"/v1/businesses/{world.business_b1}/credentials",
        json={"name": "theirs", "provider": "openai", "secret": "sk-theirs-123456"},
    )
    plan = {"engine": "llm", "llm": {"credential_id": other["id"], "model": "gpt-4o-mini"}}
    refused = await agent(run, world.business_a1, analysis=plan)
    assert refused.status_code == 422
    assert "no such credential in this business" in refused.text


def record(n: int, business: str, agent_id: str, caller: list[str]) -> dict[str, Any]:
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC) + timedelta(minutes=n)
    facts = CallFacts(
        id=f"call_ca_{n:03d}", sip_call_id=f"{n}@t", direction="inbound", business_id=business,
        agent_id=agent_id, from_number=None, to=None, trunk_id=None, node=None, created_at=start,
        answered_at=start, ended_at=start + timedelta(seconds=60), outcome="completed", ended_by="caller",
    )  # fmt: skip
    transcript: list[dict[str, Any]] = []
    for line in caller:
        transcript.append({"speaker": "caller", "text": line})
        if "open" in line:
            transcript.append({"speaker": "agent", "text": "We are open every day from 11 am to 10 pm."})
        elif "deliver" in line:
            transcript.append({"speaker": "agent", "text": "Sorry, I did not catch that."})
        else:
            transcript.append({"speaker": "agent", "text": "Certainly, noted."})
    conversation = {"transcript": transcript, "usage": [], "turns": []}
    cost = rate(load_catalog(), [], direction="inbound", answered_seconds=60)
    return build_record(facts, conversation, cost).document()


async def test_analysed_calls_are_listed_by_success_and_field_summed_per_agent_and_day_and_exported(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    created = (await agent(run, biz, analysis={"schema": SCHEMA})).json()
    calls = [
        record(1, biz, created["id"], ["are you open tonight", "a table for four people tomorrow please"]),
        record(2, biz, created["id"], ["are you open on sunday", "we are 2 people"]),
        record(3, biz, created["id"], ["do you deliver to riverside"]),  # not answered: a failed call
    ]
    services = run.platform.services
    await write_call_records(services.sessions, calls, deltas=record_deltas)
    assert services.records is not None
    assert services.analysis_model is not None
    analyses = Analyses(
        services.sessions, services.records, load_catalog(), services.analysis_model, per_second=100
    )
    analyses.start()
    try:
        # two at a time for one business: the third waits its turn (a second later, or when one ends).
        # The runner's own loop ticks as it starts too: between its tick and this one, two are claimed.
        await analyses.tick()
        assert dict(analyses.running) == {biz: 2}
        await analyses.wait_idle()
        await analyses.tick(time.time() + 2)
        await analyses.wait_idle()
    finally:
        await analyses.aclose()
    assert analyses.counts.done == 3
    base = f"/v1/businesses/{biz}"
    passed = await run.ok("GET", f"{base}/calls?success=true")
    assert [c["id"] for c in passed["items"]] == ["call_ca_002", "call_ca_001"]
    assert [c["id"] for c in (await run.ok("GET", f"{base}/calls?success=false"))["items"]] == ["call_ca_003"]
    four = await run.ok("GET", f"{base}/calls?field=party_size:4")
    assert [c["id"] for c in four["items"]] == ["call_ca_001"]
    assert four["items"][0]["analysis"]["extracted"]["party_size"] == 4
    assert (await run.ok("GET", f"{base}/calls?field=party_size:9"))["items"] == []
    assert (await run.admin("GET", f"{base}/calls?field=no-colon")).status_code == 422
    other = await run.ok("GET", f"/v1/businesses/{world.business_b1}/calls?success=true")
    assert other["items"] == []  # another business sees none of it
    span = "from=2026-11-20&to=2026-11-20"
    [row] = (await run.ok("GET", f"{base}/analytics/calls?{span}&group_by=agent_day"))["rows"]
    assert (row["agent"], row["day"], row["analyzed"], row["succeeded"]) == (
        created["id"],
        "2026-11-20",
        3,
        2,
    )
    assert row["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert row["cost_per_success"] == pytest.approx(row["analyzed_cost"] / 2, rel=1e-3)
    intents = (await run.ok("GET", f"{base}/analytics/intents?{span}"))["rows"]
    assert intents[0] == {"intent": "When are you open?", "asked": 2, "answered": 2, "answer_rate": 1.0}
    assert intents[1]["intent"] == "Do you deliver to me?"
    assert (intents[1]["asked"], intents[1]["answered"]) == (1, 0)
    exported = await run.admin("GET", f"{base}/calls/export?{span}")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert rows["call_ca_001"]["success"] == "True"
    assert rows["call_ca_001"]["intents"] == "When are you open?"
    assert '"party_size": 4' in rows["call_ca_001"]["extracted"]
    assert rows["call_ca_003"]["success"] == "False"
    assert "got no answer" in rows["call_ca_003"]["follow_up"]
