"""The call tracer on its own, against a real OTLP/HTTP receiver: failovers become events and a failed
call an error; a collector that is down costs the spans and nothing else, within the timeout."""

import time
from datetime import UTC, datetime, timedelta

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.support.otlp import OtlpReceiver
from voicegrid.analytics.tracing import CallTracer
from voicegrid.testing.ports import free_port

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
RECORD = {
    "id": "call_t1", "business_id": "biz_1", "agent_id": "agt_1", "direction": "outbound",
    "outcome": "failed", "created_at": START.isoformat(),
    "ended_at": (START + timedelta(seconds=9)).isoformat(),
    "cost": {"total": 0.0123, "billable_total": 0.02, "currency": "USD"},
    "providers": {"stt": ["deepgram"], "llm": ["openai", "groq"], "tts": ["aura-2"]},
    "failovers": [{"stage": "llm", "error": {"provider": "openai", "kind": "ProviderTimeout"}}],
}  # fmt: skip
TURN = {
    "index": 0, "speech_end_at": 100.0, "stt_finalize_at": 100.4, "stt_final_at": 100.55,
    "turn_end_at": 100.56, "llm_first_token_at": 100.9, "tts_request_at": 100.95, "tts_first_audio_at": 101.1,
    "first_packet_at": 101.12, "llm_provider": "groq", "tts_provider": "aura-2", "voice_to_voice_ms": 1120.0,
}  # fmt: skip


def test_a_failed_calls_trace_carries_its_failovers_as_events_and_an_error_status() -> None:
    offset = START.timestamp() + 2 - 100.0  # the turn began two seconds into the call
    with OtlpReceiver() as collector:
        tracer = CallTracer(collector.url, "node-t", schedule_delay_ms=100)
        tracer.call_ended(RECORD, [TURN, {"index": 1}], offset)  # the second turn has no stamps: no span
        tracer.shutdown()
        spans = collector.received()
    assert sorted(s.name for s in spans) == [
        "call", "endpointing", "first_packet", "llm.first_token", "stt.final", "tts.first_audio", "turn 0",
    ]  # fmt: skip
    by_name = {s.name: s for s in spans}
    root, turn = by_name["call"], by_name["turn 0"]
    assert root.kind == Span.SPAN_KIND_CLIENT  # we placed it
    assert root.events == ["failover"]
    assert root.attributes["voicegrid.provider.llm"] == "openai,groq"
    assert turn.start_ns == int((START.timestamp() + 2) * 1e9)
    assert (turn.end_ns - turn.start_ns) / 1e6 == 1120.0
    assert by_name["llm.first_token"].attributes == {
        "voicegrid.provider": "groq",
        "voicegrid.turn.llm_first_token_ms": 340.0,
    }
    assert by_name["stt.final"].attributes == {
        "voicegrid.provider": "deepgram",
        "voicegrid.turn.stt_final_ms": 150.0,
    }
    assert set(by_name["endpointing"].attributes) == {"voicegrid.turn.endpointing_ms"}  # ours: no provider


def test_a_collector_that_is_down_costs_the_spans_and_nothing_else() -> None:
    tracer = CallTracer(f"http://127.0.0.1:{free_port()}/v1/traces", timeout_s=1.0, schedule_delay_ms=50)
    tracer.call_ended(RECORD, [TURN], START.timestamp() - 100.0)
    started = time.monotonic()
    tracer.shutdown()
    assert time.monotonic() - started < 10
    assert tracer.traced == 1
