"""Per-turn latency of a call, from the pipeline's turn timestamps, with p50 and p95 over the call.

Each turn's intervals are those of `pipeline.intervals` (one definition for the API, the record,
traces and exports): endpointing, the STT's final after finalize, the LLM's first token, the TTS's
first audio, the first packet on the wire, voice-to-voice, and its split into provider and
platform time.
"""

import math
from typing import Any

from voicegrid.pipeline.intervals import INTERVALS, SHARES, measure

FIELDS = tuple(i.name for i in INTERVALS) + SHARES


def turn_latency(turn: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": turn.get("index"),
        **measure(turn),
        "llm_provider": turn.get("llm_provider"),
        "tts_provider": turn.get("tts_provider"),
        "interrupted": bool(turn.get("interrupted")),
    }


def percentile(values: list[float], q: float) -> float | None:
    """numpy's percentile (linear between closest ranks, its arithmetic step for step), to 0.1 ms;
    None for no values. In plain Python: a call has a few turns, and numpy's setup for a few values
    cost more than the rest of the record (a tenth of a worker's call-end time under load)."""
    if not values:
        return None
    ordered = sorted(values)
    last = len(ordered) - 1
    index = last * (q * 100 / 100)  # numpy's virtual index for a percentile of q * 100
    if index >= last:
        return round(float(ordered[last]), 1)
    below = math.floor(index)
    a, b, t = float(ordered[below]), float(ordered[below + 1]), index - below
    # numpy's lerp: from the nearer end, so that t = 1 gives b exactly
    value = b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
    return round(value, 1)


def call_latency(turns: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [turn_latency(t) for t in turns]
    out: dict[str, Any] = {"turns": rows}
    for name, q in (("p50", 0.5), ("p95", 0.95)):
        out[name] = {f: percentile([r[f] for r in rows if isinstance(r[f], int | float)], q) for f in FIELDS}
    return out
