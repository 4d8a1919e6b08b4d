"""Where the report's figures come from besides the operator: the measured density (the newest
`bench/load.py` summary, else the one shipped with the package) and a business's call records."""

import json
import math
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from voicegrid.report.figures import CANDIDATES, Inputs, Stack

# The density shipped with the package: bench/results/load-analysis-on-2026-12-02-rerun.json (2
# workers on 2 cores, 100 SIPp calls through Deepgram, OpenAI and Aura-2 emulators at their published
# latencies, post-call analysis on): the figure a fresh install plans with.
SHIPPED_DENSITY = (153.1, "bench/load.py on 2026-12-02: 100 calls on 2 cores, analysis on (shipped figure)")


def density(results: Path | None) -> tuple[float, str]:
    """Calls per core from the newest `load-*.json` summary in `results` whose steps passed."""
    if results is None or not results.is_dir():
        return SHIPPED_DENSITY
    found: list[tuple[str, float, str]] = []
    for path in results.glob("load-*.json"):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        per_core = summary.get("calls_per_core") if isinstance(summary, dict) else None
        if isinstance(per_core, int | float) and per_core > 0 and summary.get("best_n"):
            when = str(summary.get("date") or "")
            found.append(
                (
                    when,
                    float(per_core),
                    f"{path.name}: N = {summary['best_n']} on {summary.get('workers')} workers, {when[:10]}",
                )
            )
    if not found:
        return SHIPPED_DENSITY
    when, per_core, source = max(found)
    return per_core, source


def _stack_of(records: list[dict[str, Any]]) -> Stack:
    """The stack the records used most, a provider and model per stage."""
    picks: dict[str, tuple[str, str | None]] = {}
    for stage in ("stt", "llm", "tts"):
        counts: Counter[tuple[str, str | None]] = Counter()
        for record in records:
            for line in record.get("usage") or []:
                if line.get("stage") == stage:
                    counts[(str(line.get("provider")), line.get("model"))] += 1
        picks[stage] = counts.most_common(1)[0][0] if counts else CANDIDATES[1].__getattribute__(stage)
    carriers = Counter(str(r.get("transport") or "sip") for r in records)
    carrier = carriers.most_common(1)[0][0] if carriers else "sip"
    for known in CANDIDATES:
        if (known.stt[0], known.llm[0], known.tts[0]) == (picks["stt"][0], picks["llm"][0], picks["tts"][0]):
            return replace(known, carrier=carrier)
    return Stack("What you run today", picks["stt"], picks["llm"], picks["tts"], carrier)


def from_records(records: list[dict[str, Any]], days: float, source: str, business: str | None) -> Inputs:
    """The inputs as the records show them: volume scaled to a month, the mean answered call, the
    busiest hour's share of a day, the stack, and measured voice-to-voice and cost per minute."""
    if not records:
        raise ValueError("no call records in that range")
    per_month = len(records) * 30 / max(days, 1 / 24)
    answered = [float(r.get("answered_s") or 0) for r in records if r.get("answered_at")]
    mean_minutes = (sum(answered) / len(answered) / 60) if answered else 1.0
    hours = Counter(datetime.fromisoformat(r["created_at"]).strftime("%Y-%m-%d %H") for r in records)
    per_day = len(records) / max(days, 1 / 24)
    peak_share = min(1.0, max(hours.values()) / per_day) if per_day else 1.0
    turns = sorted(
        float(t["voice_to_voice_ms"])
        for r in records
        for t in (r.get("latency") or {}).get("turns", [])
        if t.get("voice_to_voice_ms") is not None
    )
    minutes = sum(answered) / 60
    cost = sum(float((r.get("cost") or {}).get("total") or 0) for r in records)
    measured = {
        "calls": len(records),
        "days": round(days, 2),
        "voice_to_voice_ms_p50": turns[len(turns) // 2] if turns else None,
        "voice_to_voice_ms_p95": turns[min(len(turns) - 1, math.ceil(len(turns) * 0.95) - 1)]
        if turns
        else None,
        "cost_per_minute": round(cost / minutes, 6) if minutes else None,
    }
    directions = Counter(str(r.get("direction") or "inbound") for r in records)
    return Inputs(
        calls_per_month=round(per_month, 1),
        mean_call_minutes=round(max(mean_minutes, 0.05), 3),
        peak_hour_share=round(peak_share, 4),
        today=_stack_of(records),
        direction=directions.most_common(1)[0][0],
        source=source,
        measured=measured,
        business=business,
    )
