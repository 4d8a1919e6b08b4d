"""A trace per call, sent over OTLP/HTTP to the operator's own collector (the OpenTelemetry Collector,
Jaeger, Tempo, Honeycomb, ...), when `otlp_endpoint` is set.

The trace is written once the call's record is made, from what the call already measured, so tracing
adds nothing to the media path:

    call                      created -> ended; the record's ids, outcome, cost and providers
      turn <n>                the caller stopped speaking -> our first packet of the reply
        endpointing           the configured quiet that ended the caller's turn
        stt.final             the STT's final transcript, after it was told to finalize
        llm.first_token       the LLM's first token, after the turn was handed to it
        tts.first_audio       the TTS's first audio, after the first sentence was sent
        first_packet          the TTS's first audio to its first frame on the wire

Each part is an interval of `pipeline.intervals`, the one definition the record and the API use.

Failovers are events on the call span. Spans go out in batches from the SDK's own thread, each
request bounded by `timeout_s`; a collector that is down costs dropped spans (counted by the SDK's
log), never a call or a record. The exporter also reads the standard `OTEL_EXPORTER_OTLP_*` settings
(headers for a hosted collector's key, certificates, compression).
"""

import logging
import socket
from datetime import datetime
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context

from voicegrid.pipeline.intervals import BY_NAME, INTERVALS, Interval, ms, span_of

log = logging.getLogger(__name__)

# the parts of a turn inside its span: every interval of `pipeline.intervals` but the turn itself
PARTS = tuple(i for i in INTERVALS if i.name != "voice_to_voice_ms")
WHOLE = BY_NAME["voice_to_voice_ms"]
FAILED_OUTCOMES = {"failed"}


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _wall_ns(iso: Any) -> int | None:
    if not isinstance(iso, str):
        return None
    try:
        return _ns(datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return None


def _interval(turn: dict[str, Any], interval: Interval, offset: float) -> tuple[int, int] | None:
    """The interval in this turn, in Unix nanoseconds; None unless both stamps are there, in order."""
    found = span_of(turn, interval)
    if found is None:
        return None
    return _ns(found[0] + offset), _ns(found[1] + offset)


def _attributes(values: dict[str, Any]) -> dict[str, str | int | float | bool]:
    return {k: v for k, v in values.items() if isinstance(v, str | int | float | bool)}


class CallTracer:
    def __init__(
        self,
        endpoint: str | None = None,
        node: str | None = None,
        *,
        timeout_s: float = 5.0,
        schedule_delay_ms: int = 2000,
    ) -> None:
        resource = Resource.create(
            {"service.name": "voicegrid", "service.instance.id": node or socket.gethostname()}
        )
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s),
                max_queue_size=20_000,
                schedule_delay_millis=schedule_delay_ms,
                export_timeout_millis=int(timeout_s * 1000),
            )
        )
        self.tracer = self.provider.get_tracer("voicegrid")
        self.traced = 0

    def call_ended(self, record: dict[str, Any], turns: list[dict[str, Any]], wall_offset_s: float) -> None:
        """Spans for one call: `record` as stored; `turns` as the pipeline stamped them, on a clock
        that `wall_offset_s` turns into Unix time."""
        start, end = _wall_ns(record.get("created_at")), _wall_ns(record.get("ended_at"))
        if start is None:
            return
        cost = record.get("cost") or {}
        providers = record.get("providers") or {}
        root = self.tracer.start_span(
            "call",
            kind=SpanKind.SERVER if record.get("direction") == "inbound" else SpanKind.CLIENT,
            start_time=start,
            attributes=_attributes(
                {
                    "voicegrid.call.id": record.get("id"),
                    "voicegrid.business.id": record.get("business_id"),
                    "voicegrid.agent.id": record.get("agent_id"),
                    "voicegrid.call.direction": record.get("direction"),
                    "voicegrid.call.outcome": record.get("outcome"),
                    "voicegrid.call.ended_by": record.get("ended_by"),
                    "voicegrid.call.answered_s": record.get("answered_s"),
                    "voicegrid.call.turns": len(turns),
                    "voicegrid.cost.total": cost.get("total"),
                    "voicegrid.cost.billable_total": cost.get("billable_total"),
                    "voicegrid.cost.currency": cost.get("currency"),
                    "sip.call_id": record.get("sip_call_id"),
                    **{
                        f"voicegrid.provider.{stage}": ",".join(map(str, names))
                        for stage, names in providers.items()
                    },
                }
            ),
        )
        for failure in record.get("failovers") or []:
            error = failure.get("error") or {}
            root.add_event(
                "failover",
                _attributes(
                    {
                        "stage": failure.get("stage"),
                        "provider": error.get("provider"),
                        "kind": error.get("kind"),
                    }
                ),
            )
        if record.get("outcome") in FAILED_OUTCOMES:
            root.set_status(Status(StatusCode.ERROR, str(record.get("outcome"))))
        stt = next(iter(providers.get("stt") or []), None)
        for turn in turns:
            self._turn(root, turn, wall_offset_s, stt)
        root.end(end_time=max(end or start, start))
        self.traced += 1

    def _turn(self, root: Span, turn: dict[str, Any], offset: float, stt: str | None) -> None:
        whole = _interval(turn, WHOLE, offset)
        if whole is None:
            return
        span = self.tracer.start_span(
            f"turn {turn.get('index')}",
            context=set_span_in_context(root),
            start_time=whole[0],
            attributes=_attributes(
                {
                    "voicegrid.turn.index": turn.get("index"),
                    "voicegrid.turn.voice_to_voice_ms": turn.get("voice_to_voice_ms"),
                    "voicegrid.turn.platform_ms": turn.get("platform_ms"),
                    "voicegrid.turn.interrupted": bool(turn.get("interrupted")),
                }
            ),
        )
        inner = set_span_in_context(span)
        for interval in PARTS:
            found = _interval(turn, interval, offset)
            if found is None:
                continue
            who = interval.provider
            provider = stt if who == "stt" else turn.get(f"{who}_provider") if who else None
            part = self.tracer.start_span(
                interval.span,
                context=inner,
                kind=SpanKind.CLIENT if who else SpanKind.INTERNAL,
                start_time=found[0],
                attributes=_attributes(
                    {"voicegrid.provider": provider, f"voicegrid.turn.{interval.name}": ms(turn, interval)}
                ),
            )
            part.end(end_time=found[1])
        span.end(end_time=whole[1])

    def shutdown(self) -> None:
        """Send what is batched (bounded by the export timeout) and stop. Blocking: call it off the
        event loop."""
        try:
            self.provider.shutdown()
        except Exception:  # a collector gone at shutdown costs its spans, nothing else
            log.warning("tracing: shutdown failed", exc_info=True)
