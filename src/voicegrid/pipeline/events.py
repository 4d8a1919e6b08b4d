"""Typed events a voice session emits for analytics, each with a `type` and units in field names.

Timestamps (`*_at`) are seconds on the event loop's monotonic clock; durations are `*_ms`. Observers
receive them outside the media path (the session calls them from its own tasks, never from the media
clock).
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from voicegrid.pipeline.intervals import measure


@dataclass(slots=True)
class TurnMetrics:
    """One exchange: the caller spoke, the agent answered. Times are None where a step did not run."""

    index: int
    user_text: str = ""
    agent_text: str = ""  # what the caller actually heard (cut at barge-in)
    interrupted: bool = False
    speech_end_at: float | None = None  # last voiced frame of the caller
    stt_finalize_at: float | None = None  # the VAD's quiet ended the utterance; the STT was told
    stt_final_at: float | None = None
    turn_end_at: float | None = None  # when the reply was requested
    llm_first_token_at: float | None = None
    tts_request_at: float | None = None  # the first sentence went to the TTS
    tts_first_audio_at: float | None = None
    first_packet_at: float | None = None  # first frame of the reply sent to the caller
    llm_provider: str | None = None
    tts_provider: str | None = None
    type: Literal["turn"] = "turn"

    def as_dict(self) -> dict[str, Any]:
        """The stamps, and every interval and share by its one definition (`pipeline.intervals`)."""
        data = {name: getattr(self, name) for name in _TURN_FIELDS}  # all plain values: no deep copy
        data.update(measure(data))
        return data


@dataclass(frozen=True, slots=True)
class BargeIn:
    at: float
    turn: int
    dropped_frames: int
    outbound_rtp_timestamp: int | None  # the RTP timestamp of the next packet the call sends
    type: Literal["barge_in"] = "barge_in"


@dataclass(frozen=True, slots=True)
class ProviderFailed:
    at: float
    stage: str
    error: dict[str, Any]
    type: Literal["provider_failed"] = "provider_failed"


@dataclass(frozen=True, slots=True)
class ToolInvoked:
    at: float
    name: str
    arguments: str
    result: str
    ok: bool
    type: Literal["tool"] = "tool"


@dataclass(frozen=True, slots=True)
class Said:
    """A line of the transcript."""

    at: float
    speaker: Literal["agent", "caller"]
    text: str
    interrupted: bool = False
    turn: int | None = None
    type: Literal["said"] = "said"


@dataclass(frozen=True, slots=True)
class SessionEnded:
    at: float
    reason: str
    usage: list[dict[str, Any]] = field(default_factory=list)
    type: Literal["ended"] = "ended"


Event = TurnMetrics | BargeIn | ProviderFailed | ToolInvoked | Said | SessionEnded
# The fields of the events a call has many of, whose values are all plain (str, number, bool,
# None): read straight, where `asdict` walks and copies each value (most of a summary's time).
_TURN_FIELDS = tuple(f.name for f in fields(TurnMetrics))
_SAID_FIELDS = tuple(f.name for f in fields(Said))


def as_dict(event: Event) -> dict[str, Any]:
    if isinstance(event, TurnMetrics):
        return event.as_dict()
    if isinstance(event, Said):
        return {name: getattr(event, name) for name in _SAID_FIELDS}
    return asdict(event)
