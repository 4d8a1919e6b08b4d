"""A trace per call over OTLP/HTTP: a real demo call (SIP, RTP, the embedded STT, LLM and TTS) to a
node configured with a collector's URL; the collector receives one `call` span carrying the record's
ids, outcome and cost, one `turn` span per measured turn inside it, and each turn's provider waits
inside the turn, with the same times the record reports."""

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_voice_call import recorded
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.serve import demo_call, env_without_voicegrid, serving
from voicegrid.pipeline.intervals import INTERVALS
from voicegrid.testing.ports import free_udp_and_tcp_port


def _within(inner: ReceivedSpan, outer: ReceivedSpan, slack_ns: int = 2_000_000) -> bool:
    return outer.start_ns - slack_ns <= inner.start_ns <= inner.end_ns <= outer.end_ns + slack_ns


def test_each_call_sends_one_trace_of_its_turns_and_their_provider_waits_to_the_collector(
    tmp_path: Path,
) -> None:
    data, sip = tmp_path / "var", free_udp_and_tcp_port()
    with OtlpReceiver() as collector:
        env = env_without_voicegrid(VOICEGRID_OTLP_ENDPOINT=collector.url, VOICEGRID_NODE_ID="node-a")
        with serving(data, "--demo", sip_port=sip, env=env) as (url, _):
            call_id = demo_call(data, sip, "are you open at nine pm", "thank you, bye")["call_id"]
            key = json.loads((data / "demo.json").read_text())["api_key"]
            call = recorded(url, key, call_id)
            exported = httpx.get(
                f"{url}/v1/calls/export",
                params={"format": "ndjson"},
                headers={"Authorization": f"Bearer {key}"},
            )
            deadline = time.monotonic() + 20
            while not any(s.name == "call" for s in collector.received()):
                assert time.monotonic() < deadline, "no call span reached the collector"
                time.sleep(0.2)
        spans = collector.received()
    [root] = [s for s in spans if s.name == "call"]
    assert root.attributes["voicegrid.call.id"] == call_id
    # One definition per interval: the stored record (as exported), the API's latency and its
    # conversation turns name and measure every interval of every turn alike.
    [stored] = [json.loads(line) for line in exported.text.splitlines()]
    assert stored["latency"] == call["latency"]
    names = [i.name for i in INTERVALS] + ["provider_ms", "platform_ms"]
    assert len(call["conversation"]["turns"]) == len(call["latency"]["turns"]) >= 2
    for turn, row in zip(call["conversation"]["turns"], call["latency"]["turns"], strict=True):
        assert {n: turn[n] for n in names} == {n: row[n] for n in names}
        assert all(row[n] is not None for n in names)
    assert root.attributes["voicegrid.call.direction"] == "inbound"
    assert root.attributes["voicegrid.call.outcome"] == call["outcome"]
    assert root.attributes["voicegrid.cost.total"] == pytest.approx(call["cost"]["total"])
    assert root.attributes["voicegrid.provider.stt"]  # the stack that served the call
    assert (root.service["service.name"], root.service["service.instance.id"]) == ("voicegrid", "node-a")
    assert root.parent_id == ""
    assert root.end_ns - root.start_ns >= 1_000_000_000  # the call lasted seconds
    mine = [s for s in spans if s.trace_id == root.trace_id]
    turns = sorted((s for s in mine if s.name.startswith("turn ")), key=lambda s: s.start_ns)
    measured = call["latency"]["turns"]
    assert len(turns) == len(measured) >= 2
    for span, figures in zip(turns, measured, strict=True):
        assert span.parent_id == root.span_id
        assert _within(span, root)
        assert (span.end_ns - span.start_ns) / 1e6 == pytest.approx(figures["voice_to_voice_ms"], abs=1.0)
        parts = {s.name: s for s in mine if s.parent_id == span.span_id}
        assert set(parts) == {i.span for i in INTERVALS if i.name != "voice_to_voice_ms"}
        for name, part in parts.items():
            assert _within(part, span), name
        for interval in INTERVALS:  # the trace's span of each interval is the record's figure
            traced = span if interval.span == "turn" else parts[interval.span]
            assert (traced.end_ns - traced.start_ns) / 1e6 == pytest.approx(figures[interval.name], abs=1.0)
        assert parts["llm.first_token"].attributes["voicegrid.provider"]
