"""Per-turn latency of a call, from the pipeline's turn timestamps, with p50 and p95 over the call.

Each turn's components, in the order they happen, fit inside its voice-to-voice time:
endpointing (the configured quiet after the last voiced frame), the STT's final after it was told to
finalize, the LLM's first token after the turn was handed to it, the TTS's first audio after the first
sentence went to it; `platform_ms` is what remains, our own share.
"""

from typing import Any

import numpy as np

FIELDS = ("endpointing_ms", "stt_final_ms", "llm_ttft_ms", "tts_ttfb_ms", "voice_to_voice_ms", "platform_ms")


def _ms(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return None
    return round((b - a) * 1000, 1)


def turn_latency(turn: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": turn.get("index"),
        "endpointing_ms": turn.get("endpointing_ms"),
        "stt_final_ms": _ms(turn.get("stt_finalize_at"), turn.get("stt_final_at")),
        "llm_ttft_ms": _ms(turn.get("turn_end_at"), turn.get("llm_first_token_at")),
        "tts_ttfb_ms": _ms(turn.get("tts_request_at"), turn.get("tts_first_audio_at")),
        "voice_to_voice_ms": turn.get("voice_to_voice_ms"),
        "platform_ms": turn.get("platform_ms"),
        "llm_provider": turn.get("llm_provider"),
        "tts_provider": turn.get("tts_provider"),
        "interrupted": bool(turn.get("interrupted")),
    }


def percentile(values: list[float], q: float) -> float | None:
    """numpy's percentile (linear between closest ranks), to 0.1 ms; None for no values."""
    return round(float(np.percentile(values, q * 100)), 1) if values else None


def call_latency(turns: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [turn_latency(t) for t in turns]
    out: dict[str, Any] = {"turns": rows}
    for name, q in (("p50", 0.5), ("p95", 0.95)):
        out[name] = {f: percentile([r[f] for r in rows if isinstance(r[f], int | float)], q) for f in FIELDS}
    return out
