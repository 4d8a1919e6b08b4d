"""The call record: everything a call leaves behind, one typed model (`CallRecord`) stored as one
JSON document.

`CallFacts` is what call control knows (ids, parties, times, outcome, media quality); the
conversation is what the voice pipeline knows (transcript, turns, usage, failovers, tools); the cost
is the usage rated under the catalog. `build_record` puts them together once, when the call ends.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    amd: dict[str, Any] | None = None  # answering-machine detection's verdict, reason and times
    agent_version: int | None = None  # the agent's published version that took the call

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


class TurnLatency(BaseModel):
    """One turn's intervals (`pipeline.intervals`), in milliseconds; None where a step did not run."""

    model_config = ConfigDict(extra="forbid")
    index: int | None = None
    endpointing_ms: float | None = None
    stt_final_ms: float | None = None
    llm_first_token_ms: float | None = None
    tts_first_audio_ms: float | None = None
    first_packet_ms: float | None = None
    voice_to_voice_ms: float | None = None
    provider_ms: float | None = None
    platform_ms: float | None = None
    llm_provider: str | None = None
    tts_provider: str | None = None
    interrupted: bool = False


class Latency(BaseModel):
    turns: list[TurnLatency] = Field(default_factory=list)
    p50: dict[str, float | None] = Field(default_factory=dict)
    p95: dict[str, float | None] = Field(default_factory=dict)


class CallRecord(BaseModel):
    """Everything a call leaves behind, built once when it ends: stored as `document()`, served by the
    API, exported, sent in the `call.ended` webhook, traced and rolled up under these names."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")  # extra: pii_masked, erased_at, ...
    record_version: int = RECORD_VERSION
    id: str
    sip_call_id: str
    business_id: str | None = None
    agent_id: str | None = None
    agent_version: int | None = Field(default=None, description="the agent's published version")
    direction: str
    transport: str = "sip"
    from_number: str | None = Field(default=None, alias="from")
    to: str | None = None
    trunk_id: str | None = None
    node: str | None = None
    created_at: str  # ISO 8601, UTC
    ringing_at: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    duration_s: float = 0.0
    answered_s: float = 0.0
    outcome: str | None = None
    end_reason: str | None = None
    ended_by: str | None = None
    transfer_to: str | None = None
    recording: str | None = None  # the recording's API path, when the call was recorded
    quality: dict[str, float | None] = Field(default_factory=dict)  # the media's counters (SIP calls)
    metadata: dict[str, str] = Field(default_factory=dict)
    amd: dict[str, Any] | None = None  # outbound, when asked: verdict, reason, after_ms, machine_ready_ms
    transcript: list[dict[str, Any]] = Field(default_factory=list)
    interruptions: int = 0
    providers: dict[str, list[str]] = Field(default_factory=dict)
    failovers: list[dict[str, Any]] = Field(default_factory=list)  # the pipeline's ProviderFailed events
    tools: list[dict[str, Any]] = Field(default_factory=list)
    usage: list[dict[str, Any]] = Field(default_factory=list)
    cost: dict[str, Any] = Field(default_factory=dict)
    latency: Latency = Field(default_factory=Latency)
    pii_masked: bool = False  # the transcript's personal numbers are masked (the business asks)
    analysis: dict[str, Any] | None = None  # post-call analysis (`analysis.Analysis`), added once stored

    def document(self) -> dict[str, Any]:
        """The record as stored and sent: JSON types, `from` under its own name."""
        return self.model_dump(mode="json", by_alias=True)


def build_record(facts: CallFacts, conversation: dict[str, Any] | None, cost: Cost) -> CallRecord:
    talk = conversation or {}
    return CallRecord(
        id=facts.id,
        sip_call_id=facts.sip_call_id,
        business_id=facts.business_id,
        agent_id=facts.agent_id,
        agent_version=facts.agent_version,
        direction=facts.direction,
        transport=facts.transport,
        from_number=facts.from_number,
        to=facts.to,
        trunk_id=facts.trunk_id,
        node=facts.node,
        created_at=facts.created_at.isoformat(),
        ringing_at=_iso(facts.created_at),
        answered_at=_iso(facts.answered_at),
        ended_at=_iso(facts.ended_at),
        duration_s=round(facts.duration_s, 3),
        answered_s=round(facts.answered_s, 3),
        outcome=facts.outcome,
        end_reason=facts.outcome,
        ended_by=facts.ended_by,
        transfer_to=facts.transfer_to,
        recording=f"/v1/calls/{facts.id}/recording" if facts.recording else None,
        quality=dict(facts.media),
        metadata=dict(facts.metadata),
        amd=dict(facts.amd) if facts.amd else None,
        transcript=list(talk.get("transcript", [])),
        interruptions=len(talk.get("barge_ins", [])),
        providers=providers_used(talk),
        failovers=list(talk.get("failovers", [])),
        tools=list(talk.get("tools", [])),
        usage=list(talk.get("usage", [])),
        cost=cost.as_dict(),
        latency=Latency.model_validate(call_latency(list(talk.get("turns", [])))),
    )
