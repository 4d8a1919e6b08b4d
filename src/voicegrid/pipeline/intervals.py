"""The intervals of a turn: the one definition the API, the call record, traces, rollups, exports and
the dashboard all read.

A turn's stamps (`*_at`, seconds on the pipeline's clock) are taken by the voice session; each
interval is the time between two of them, in milliseconds (`*_ms`), or None when either stamp is
missing or they are out of order. The shares split voice-to-voice into the configured endpointing,
the providers' time and our own.
"""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Interval:
    name: str  # the field, with its unit
    start: str  # the stamp it starts at
    end: str  # the stamp it ends at
    span: str  # its span in a call's trace
    provider: str | None  # whose wait it is: the stage whose provider serves it; None: ours
    meaning: str


INTERVALS = (
    Interval(
        "endpointing_ms", "speech_end_at", "stt_finalize_at", "endpointing", None,
        "the configured quiet after the caller's last voiced frame that ended the turn",
    ),
    Interval(
        "stt_final_ms", "stt_finalize_at", "stt_final_at", "stt.final", "stt",
        "the STT's final transcript, after it was told to finalize",
    ),
    Interval(
        "llm_first_token_ms", "turn_end_at", "llm_first_token_at", "llm.first_token", "llm",
        "the LLM's first token, after the turn was handed to it",
    ),
    Interval(
        "tts_first_audio_ms", "tts_request_at", "tts_first_audio_at", "tts.first_audio", "tts",
        "the TTS's first audio, after the first sentence went to it",
    ),
    Interval(
        "first_packet_ms", "tts_first_audio_at", "first_packet_at", "first_packet", None,
        "from the TTS's first audio to its first frame on the wire (at most one media tick)",
    ),
    Interval(
        "voice_to_voice_ms", "speech_end_at", "first_packet_at", "turn", None,
        "the caller's last voiced frame to the first frame of the reply on the wire",
    ),
)  # fmt: skip
BY_NAME = {i.name: i for i in INTERVALS}
SHARES = ("provider_ms", "platform_ms")  # voice-to-voice less endpointing: theirs, and ours
STAMPS = (
    "speech_end_at",
    "stt_finalize_at",
    "stt_final_at",
    "turn_end_at",
    "tts_request_at",
    "tts_first_audio_at",
    "first_packet_at",
)


def _stamp(turn: Mapping[str, object], name: str) -> float | None:
    value = turn.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def span_of(turn: Mapping[str, object], interval: Interval) -> tuple[float, float] | None:
    """The interval's (start, end) stamps in this turn; None unless both are there, in order."""
    a, b = _stamp(turn, interval.start), _stamp(turn, interval.end)
    if a is None or b is None or b < a:
        return None
    return a, b


def ms(turn: Mapping[str, object], interval: Interval) -> float | None:
    found = span_of(turn, interval)
    return None if found is None else round((found[1] - found[0]) * 1000, 1)


def shares(turn: Mapping[str, object]) -> dict[str, float | None]:
    """Provider time (the STT's final after finalize, the LLM until the first sentence went to the
    TTS, the TTS's first audio) and the platform's (deciding the turn is over, and getting the first
    audio onto the wire); None unless every stamp is there."""
    stamps = [_stamp(turn, s) for s in STAMPS]
    if any(s is None for s in stamps):
        return dict.fromkeys(SHARES)
    _, finalize, final, turn_end, tts_request, tts_audio, packet = (float(s or 0.0) for s in stamps)
    provider = (final - finalize) + (tts_request - turn_end) + (tts_audio - tts_request)
    platform = (turn_end - final) + (packet - tts_audio)
    return {"provider_ms": round(provider * 1000, 1), "platform_ms": round(platform * 1000, 1)}


def measure(turn: Mapping[str, object]) -> dict[str, float | None]:
    """Every interval and share of one turn, by name."""
    out: dict[str, float | None] = {i.name: ms(turn, i) for i in INTERVALS}
    out.update(shares(turn))
    return out
