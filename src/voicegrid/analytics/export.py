"""CSV for spreadsheets: call records one line per call, and aggregate rows with nested fields flattened."""

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

COLUMNS = (
    "id", "created_at", "answered_at", "ended_at", "direction", "from", "to", "agent_id", "trunk_id",
    "outcome", "ended_by", "duration_s", "answered_s", "currency", "cost_total", "billable_total",
    "turns", "voice_to_voice_ms_p50", "voice_to_voice_ms_p95", "platform_ms_p95", "interruptions",
    "failovers", "stt", "llm", "tts", "analysis_status", "success", "success_score", "sentiment",
    "intents", "tools", "summary", "extracted", "analysis_cost", "follow_up",
)  # fmt: skip


def csv_row(record: dict[str, Any]) -> list[Any]:
    cost = record.get("cost") or {}
    latency = record.get("latency") or {}
    providers = record.get("providers") or {}
    values = {
        **{k: record.get(k) for k in COLUMNS},
        "currency": cost.get("currency"),
        "cost_total": cost.get("total"),
        "billable_total": cost.get("billable_total"),
        "turns": len(latency.get("turns", [])),
        "voice_to_voice_ms_p50": (latency.get("p50") or {}).get("voice_to_voice_ms"),
        "voice_to_voice_ms_p95": (latency.get("p95") or {}).get("voice_to_voice_ms"),
        "platform_ms_p95": (latency.get("p95") or {}).get("platform_ms"),
        "failovers": len(record.get("failovers") or []),
        **{stage: " ".join(providers.get(stage, [])) for stage in ("stt", "llm", "tts")},
        **analysis_columns(record.get("analysis") or {}),
    }
    return ["" if values[c] is None else _safe(values[c]) for c in COLUMNS]


def analysis_columns(analysis: dict[str, Any]) -> dict[str, Any]:
    """The analysis in a spreadsheet's terms: lists joined with "; ", the extracted fields as JSON."""
    success = analysis.get("success") or {}
    extracted = analysis.get("extracted")
    return {
        "analysis_status": analysis.get("status"),
        "success": success.get("passed"),
        "success_score": success.get("score"),
        "sentiment": (analysis.get("sentiment") or {}).get("label"),
        "intents": "; ".join(
            str(i.get("intent")) for i in analysis.get("intents") or [] if isinstance(i, dict)
        ),
        "tools": "; ".join(str(t) for t in analysis.get("tools") or []),
        "summary": analysis.get("summary"),
        "extracted": json.dumps(extracted, sort_keys=True) if extracted else None,
        "analysis_cost": analysis.get("cost"),
        "follow_up": "; ".join(str(f) for f in analysis.get("follow_up") or []),
    }


def _safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(value):
        return "'" + value
    return value


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def csv_lines(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async def rows() -> AsyncIterator[list[Any]]:
        async for record in records:
            yield csv_row(record)

    async for chunk in rows_csv(COLUMNS, rows()):
        yield chunk


async def rows_csv(columns: Sequence[str], rows: AsyncIterator[Sequence[Any]]) -> AsyncIterator[str]:
    """A header and rows as CSV, in chunks of about 64 KiB; formulas kept as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    async for row in rows:
        writer.writerow(["" if v is None else _safe(v) for v in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"p95": {"tts_ms": 3}}` becomes `{"p95.tts_ms": 3}`, so an aggregate row fits one CSV line."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def table_csv(rows: list[dict[str, Any]]) -> str:
    """Aggregate rows as CSV: the columns of the first row first, then any others in order of sight."""
    flat = [flatten(row) for row in rows]
    columns = list(dict.fromkeys(name for row in flat for name in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in flat:
        writer.writerow(["" if row.get(c) is None else _safe(row[c]) for c in columns])
    return buffer.getvalue()
