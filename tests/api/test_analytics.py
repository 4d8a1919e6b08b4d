"""Aggregates from the rollups: what the stored calls add up to, by day, agent and provider; and
exports of the calls themselves."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.analytics import CallFacts, Journal, Recorder, build_record
from voicegrid.analytics.histogram import BOUNDS, quantile
from voicegrid.analytics.metrics import CallMetrics
from voicegrid.analytics.rollup import record_deltas
from voicegrid.catalog import load_catalog, rate
from voicegrid.store.call_records import write_call_records


def turn(index: int, v2v: float, llm: str = "openai", tts: str = "deepgram") -> dict[str, Any]:
    t0 = 100.0 + index * 10
    return {
        "index": index, "speech_end_at": t0, "stt_finalize_at": t0 + 0.2, "stt_final_at": t0 + 0.35,
        "turn_end_at": t0 + 0.36, "llm_first_token_at": t0 + 0.7, "tts_request_at": t0 + 0.75,
        "tts_first_audio_at": t0 + 0.9, "first_packet_at": t0 + v2v / 1000, "voice_to_voice_ms": v2v,
        "endpointing_ms": 200.0, "platform_ms": 15.0, "llm_provider": llm, "tts_provider": tts,
    }  # fmt: skip


def record(
    n: int,
    business: str,
    day: int,
    agent: str,
    v2v: list[float],
    outcome: str = "completed",
    tts: tuple[str, str] = ("deepgram", "aura-2"),
    direction: str = "inbound",
) -> dict[str, Any]:
    start = datetime(2026, 11, day, 12, 0, tzinfo=UTC) + timedelta(minutes=n)
    facts = CallFacts(
        id=f"call_an_{n:03d}", sip_call_id=f"{n}@t", direction=direction, business_id=business,
        agent_id=agent, from_number=None, to=None, trunk_id=None, node=None, created_at=start,
        answered_at=start + timedelta(seconds=2), ended_at=start + timedelta(seconds=122),
        outcome=outcome, ended_by="caller",
    )  # fmt: skip
    usage = [
        {"stage": "stt", "provider": "deepgram", "model": "nova-3", "audio_seconds": 120.0, "requests": 1},
        {"stage": "llm", "provider": "openai", "model": "gpt-4o-mini", "tokens_in": 5000, "tokens_out": 300,
         "requests": 3},
        {"stage": "tts", "provider": tts[0], "model": tts[1], "characters": 900, "requests": 3},
    ]  # fmt: skip
    failovers = (
        [{"stage": "llm", "error": {"provider": "openai", "kind": "ProviderTimeout"}}] if n % 4 == 0 else []
    )
    conversation = {
        "usage": usage,
        "turns": [turn(i, v, tts=tts[0]) for i, v in enumerate(v2v)],
        "failovers": failovers,
    }
    return build_record(
        facts, conversation, rate(load_catalog(), usage, direction=direction, answered_seconds=120)
    ).document()


async def test_aggregates_add_up_the_stored_calls_by_day_agent_direction_and_provider(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    records = [
        record(
            n, biz, 20 + n % 2, "agt_a" if n < 6 else "agt_b", [800.0 + 10 * n, 1200.0],
            direction="outbound" if n in (2, 5) else "inbound",
        )
        for n in range(8)
    ]  # fmt: skip
    records.append(record(99, world.business_b1, 20, "agt_x", [500.0]))  # another business: never counted
    sessions = run.platform.services.sessions
    await write_call_records(sessions, records, deltas=record_deltas)
    await write_call_records(sessions, records[:3], deltas=record_deltas)  # a journal replay: counted once
    base = f"/v1/businesses/{biz}/analytics"
    by_day = await run.ok("GET", f"{base}/calls?from=2026-11-01&to=2026-11-30")
    assert [(r["day"], r["calls"]) for r in by_day["rows"]] == [("2026-11-20", 4), ("2026-11-21", 4)]
    [total] = (await run.ok("GET", f"{base}/calls?from=2026-11-01&to=2026-11-30&group_by=total"))["rows"]
    mine = records[:8]
    assert total["calls"] == 8
    assert total["minutes"] == pytest.approx(8 * 2.0)
    assert total["cost"] == pytest.approx(sum(r["cost"]["total"] for r in mine))
    assert total["cost_per_minute"] == pytest.approx(total["cost"] / total["minutes"], rel=1e-3)
    assert total["failover_rate"] == pytest.approx(2 / 8)
    assert total["outcomes"] == {"completed": 8}
    v2v = sorted(t["voice_to_voice_ms"] for r in mine for t in r["latency"]["turns"])
    assert v2v[7] <= total["p50"]["voice_to_voice_ms"] <= v2v[8]  # between the middle ranks
    assert total["p95"]["voice_to_voice_ms"] == pytest.approx(1200, abs=200)  # within its bucket
    by_agent = (await run.ok("GET", f"{base}/calls?from=2026-11-01&to=2026-11-30&group_by=agent"))["rows"]
    assert [(r["agent"], r["calls"]) for r in by_agent] == [("agt_a", 6), ("agt_b", 2)]
    by_direction = await run.ok("GET", f"{base}/calls?from=2026-11-01&to=2026-11-30&group_by=direction")
    assert [(r["direction"], r["calls"]) for r in by_direction["rows"]] == [("inbound", 6), ("outbound", 2)]
    [outbound] = (
        await run.ok("GET", f"{base}/calls?from=2026-11-01&to=2026-11-30&group_by=total&direction=outbound")
    )["rows"]
    assert outbound["calls"] == 2
    assert outbound["cost"] == pytest.approx(records[2]["cost"]["total"] + records[5]["cost"]["total"])
    outbound_days = await run.ok("GET", f"{base}/calls?from=2026-11-01&to=2026-11-30&direction=outbound")
    assert [(r["day"], r["calls"]) for r in outbound_days["rows"]] == [("2026-11-20", 1), ("2026-11-21", 1)]
    providers = (await run.ok("GET", f"{base}/providers?from=2026-11-01&to=2026-11-30"))["rows"]
    by = {(p["stage"], p["provider"]): p for p in providers}
    assert set(by) == {("stt", "deepgram"), ("llm", "openai"), ("tts", "deepgram"), ("telephony", "sip")}
    assert by["stt", "deepgram"]["quantity"] == pytest.approx(16.0)  # minutes of audio
    assert by["llm", "openai"]["failover_rate"] == pytest.approx(2 / 8)
    assert by["llm", "openai"]["wait_ms_p50"] == pytest.approx(
        340, abs=60
    )  # first token 340 ms after the turn
    assert by["tts", "deepgram"]["wait_ms_p95"] == pytest.approx(150, abs=50)
    refused = await run.admin("GET", f"{base}/calls?from=2026-11-30&to=2026-11-01")
    assert refused.status_code == 422
    other = await run.ok(
        "GET",
        f"/v1/businesses/{world.business_b1}/analytics/calls?from=2026-11-01&to=2026-11-30&group_by=total",
    )
    assert other["rows"][0]["calls"] == 1


def test_percentiles_from_a_histogram_fall_inside_the_right_bucket() -> None:
    hist = {"5": 50, "9": 45, "14": 5}  # 200-250 ms, 400-500 ms, 900-1000 ms
    assert BOUNDS[4] <= (quantile(hist, 0.5) or 0) <= BOUNDS[5]
    assert BOUNDS[8] <= (quantile(hist, 0.95) or 0) <= BOUNDS[9]
    assert BOUNDS[13] <= (quantile(hist, 0.99) or 0) <= BOUNDS[14]
    assert quantile({}, 0.5) is None


async def _never_written(records: list[dict[str, object]]) -> None:
    raise AssertionError("not written in this test")


def test_an_ended_call_shows_in_the_prometheus_metrics_by_outcome_latency_cost_and_provider_error(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry)
    metrics.observe(record(0, "biz_1", 20, "agt_a", [820.0, 1200.0]))  # n=0: one LLM failover
    recorder = Recorder(Journal(tmp_path), _never_written)
    recorder.store_ok = False
    metrics.watch(lambda: 3, recorder)
    text = generate_latest(registry).decode()
    assert 'voicegrid_calls_ended_total{direction="inbound",outcome="completed"} 1.0' in text
    assert 'voicegrid_turn_latency_seconds_count{component="voice_to_voice"} 2.0' in text
    assert 'voicegrid_turn_latency_seconds_bucket{component="voice_to_voice",le="1.0"} 1.0' in text
    assert 'voicegrid_provider_errors_total{kind="ProviderTimeout",provider="openai",stage="llm"} 1.0' in text
    assert (
        'voicegrid_call_cost_usd_total{component="stt",provider="deepgram"} 0.0096' in text
    )  # 2 min x $0.0048
    assert "voicegrid_calls_active 3.0" in text
    assert "voicegrid_call_records_stored 0.0" in text
    assert "voicegrid_call_records_drain_healthy 1.0" in text
    assert "voicegrid_call_records_dead_lettered 0.0" in text


async def test_a_range_of_stored_calls_exports_as_csv_and_as_json_lines_of_whole_records(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    records = [record(n, biz, 20 + n % 3, "agt_a", [900.0]) for n in range(5)]
    records[1]["to"] = "=HYPERLINK(1)"  # what a caller could put in a header, aimed at a spreadsheet
    records.append(record(50, world.business_b1, 20, "agt_x", [500.0]))
    await write_call_records(run.platform.services.sessions, records, deltas=record_deltas)
    base = f"/v1/businesses/{biz}/calls/export?from=2026-11-20&to=2026-11-21"
    response = await run.admin("GET", base)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="calls-2026-11-20-2026-11-21.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == ["call_an_000", "call_an_003", "call_an_001", "call_an_004"]  # by time
    assert rows[2]["to"] == "'=HYPERLINK(1)"
    assert rows[0]["from"] == ""
    assert float(rows[0]["cost_total"]) == records[0]["cost"]["total"]
    assert rows[0]["stt"] == "deepgram"
    lines = (await run.admin("GET", f"{base}&format=ndjson")).text.splitlines()
    assert [json.loads(line) for line in lines] == [records[n] for n in (0, 3, 1, 4)]


async def test_erasing_a_calls_content_removes_what_was_said_and_keeps_its_figures(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    stored = record(7, biz, 20, "agt_a", [900.0])
    stored["transcript"] = [{"speaker": "caller", "text": "my card is 4111 1111 1111 1111"}]
    stored["tools"] = [{"name": "webhook", "arguments": '{"card": "4111"}', "at": 1.0}]
    await write_call_records(run.platform.services.sessions, [stored], deltas=record_deltas)
    url = f"/v1/businesses/{biz}/calls/{stored['id']}"
    member = await run.as_key(world.key("business", "member"), "DELETE", f"{url}/content")
    assert member.status_code == 403  # erasing is for admins
    assert (await run.as_key(world.key("business", "admin"), "DELETE", f"{url}/content")).status_code == 204
    after = await run.ok("GET", url)
    assert after["conversation"]["transcript"] == []
    assert after["conversation"]["tools"] == [{"name": "webhook", "at": 1.0}]
    assert (after["cost"], after["latency"]) == (stored["cost"], stored["latency"])
    export = (
        await run.admin(
            "GET", f"/v1/businesses/{biz}/calls/export?from=2026-11-20&to=2026-11-20&format=ndjson"
        )
    ).text
    assert "4111" not in export
    assert json.loads(export)["content_erased_at"]
    elsewhere = await run.admin("DELETE", f"/v1/businesses/{world.business_b1}/calls/{stored['id']}/content")
    assert elsewhere.status_code == 404  # never another business's call


async def test_recommendations_re_rate_an_agents_calls_on_the_other_stacks_and_scale_them_to_a_month(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    flash = ("elevenlabs", "eleven_flash_v2_5")  # this agent speaks through ElevenLabs Flash
    mine = [record(n, biz, 20, "agt_r", [900.0], tts=flash) for n in range(4)]
    mine.append(record(60, biz, 20, "agt_other", [900.0]))  # another agent's call: not counted
    await write_call_records(run.platform.services.sessions, mine, deltas=record_deltas)
    body = await run.ok(
        "GET", f"/v1/businesses/{biz}/analytics/recommendations?agent_id=agt_r&from=2026-11-20&to=2026-11-20"
    )
    by = {(r["stage"], r["alternative"]): r for r in body["rows"]}
    aura = by["tts", "deepgram"]
    # 4 calls x 900 characters x ($0.030 - $0.050) per 1k characters, over one day, x 30 days
    assert aura["monthly_change"] == pytest.approx(4 * 0.9 * (0.030 - 0.050) * 30, abs=0.01)
    assert aura["current"] == "elevenlabs eleven_flash_v2_5"
    assert aura["text"].startswith("deepgram instead of elevenlabs eleven_flash_v2_5: saves $2.16 a month")
    assert aura["latency_change_ms"] is not None  # both measured in the provider rollups
    assert body["rows"] == sorted(body["rows"], key=lambda r: r["monthly_change"])  # best saving first
    assert ("llm", "openai gpt-4o") in by
    assert by["llm", "openai gpt-4o"]["monthly_change"] > 0  # the bigger model costs more


async def test_a_stored_calls_recording_is_named_by_the_node_that_keeps_it_or_said_to_be_missing(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    elsewhere, silent = record(8, biz, 20, "agt_a", [900.0]), record(9, biz, 20, "agt_a", [900.0])
    elsewhere.update(node="node-b", recording=f"/v1/calls/{elsewhere['id']}/recording")
    silent["recording"] = None
    await write_call_records(run.platform.services.sessions, [elsewhere, silent], deltas=record_deltas)
    base = f"/v1/businesses/{biz}/calls"
    kept_by_b = await run.admin("GET", f"{base}/{elsewhere['id']}/recording")
    assert kept_by_b.status_code == 404
    assert "node-b" in kept_by_b.text
    none = await run.admin("GET", f"{base}/{silent['id']}/recording")
    assert none.status_code == 404
    assert "has no recording" in none.text
    other = await run.admin("GET", f"/v1/businesses/{world.business_b1}/calls/{elsewhere['id']}/recording")
    assert other.status_code == 404
    assert "node-b" not in other.text  # another business learns nothing of the call
