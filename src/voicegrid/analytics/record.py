"""The call record: everything a call leaves behind, in one JSON document.

`CallFacts` is what call control knows (ids, parties, times, outcome, media quality); the
conversation is what the voice pipeline knows (transcript, turns, usage, failovers, tools); the cost
is the usage rated under the catalog. `build_record` puts them together in the shape the API serves.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from voicegrid.analytics.latency import call_latency
from voicegrid.catalog import Cost

RECORD_VERSION = 2  # 2: latency fields named as in `pipeline.intervals`; `transport` (the store reads 1 as 2)


@dataclass(frozen=True, slots=True)
class CallFacts:
    id: str
    sip_call_id: str
    direction: str
    business_id: str | None
    agent_id: str | None
    from_number: str | None
    to: str | None
    trunk_id: str | None
    node: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    ended_by: str | None
    transfer_to: str | None = None
    transport: str = "sip"  # sip, twilio, telnyx, browser
    recording: bool = False
    media: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        end = self.ended_at or self.created_at
        return max(0.0, (end - self.created_at).total_seconds())

    @property
    def answered_s(self) -> float:
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return max(0.0, (self.ended_at - self.answered_at).total_seconds())


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def providers_used(conversation: dict[str, Any]) -> dict[str, list[str]]:
    """Each stage's providers, in the order they served the call (a failover adds the next)."""
    used: dict[str, list[str]] = {"stt": [], "llm": [], "tts": []}
    for line in conversation.get("usage", []):
        stage, provider = line.get("stage"), line.get("provider")
        if (
            stage in used
            and provider not in used[stage]
            and (line.get("requests") or line.get("audio_seconds"))
        ):
            used[stage].append(provider)
    return used


def build_record(facts: CallFacts, conversation: dict[str, Any] | None, cost: Cost) -> dict[str, Any]:
    talk = conversation or {}
    latency = call_latency(list(talk.get("turns", [])))
    media = facts.media
    return {
        "record_version": RECORD_VERSION,
        "id": facts.id,
        "sip_call_id": facts.sip_call_id,
        "business_id": facts.business_id,
        "agent_id": facts.agent_id,
        "direction": facts.direction,
        "transport": facts.transport,
        "from": facts.from_number,
        "to": facts.to,
        "trunk_id": facts.trunk_id,
        "node": facts.node,
        "created_at": _iso(facts.created_at),
        "ringing_at": _iso(facts.created_at),
        "answered_at": _iso(facts.answered_at),
        "ended_at": _iso(facts.ended_at),
        "duration_s": round(facts.duration_s, 3),
        "answered_s": round(facts.answered_s, 3),
        "outcome": facts.outcome,
        "end_reason": facts.outcome,
        "ended_by": facts.ended_by,
        "transfer_to": facts.transfer_to,
        "recording": f"/v1/calls/{facts.id}/recording" if facts.recording else None,
        "quality": {
            "packets_lost": media.get("packets_lost"),
            "jitter_ms": media.get("jitter_ms"),
            "remote_fraction_lost": media.get("remote_fraction_lost"),
            "remote_jitter_ms": media.get("remote_jitter_ms"),
        },
        "metadata": dict(facts.metadata),
        "transcript": list(talk.get("transcript", [])),
        "interruptions": len(talk.get("barge_ins", [])),
        "providers": providers_used(talk),
        "failovers": list(talk.get("errors", [])),
        "tools": list(talk.get("tools", [])),
        "usage": list(talk.get("usage", [])),
        "cost": cost.as_dict(),
        "latency": latency,
    }
