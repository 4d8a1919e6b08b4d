"""What the calls API takes and answers: the bodies of its requests, a call as it shows it (live,
or from its stored `CallRecord`), lists and the Live view."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from voicegrid.analytics.record import CallRecord
from voicegrid.api.schemas import In, Out
from voicegrid.telephony.book import Call

TARGET = Field(
    min_length=3, max_length=300, description="an E.164 number, or a SIP URI reached through the trunk"
)


class CallCreate(In):
    agent_id: str = Field(max_length=40)
    to: str = TARGET
    from_: str | None = Field(
        default=None, alias="from", max_length=40, description="a caller ID of the trunk"
    )
    trunk_id: str | None = Field(default=None, max_length=40)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)
    ring_timeout_s: float = Field(default=45.0, ge=1, le=300)
    amd: Literal["off", "detect", "message"] | None = Field(
        default=None,
        description="answering-machine detection: `detect` hangs up on machines (outcome `voicemail`), "
        "`message` waits for the beep and says `voicemail_message` (else the agent's); a person gets "
        "the agent. Absent: the agent's own setting",
    )
    voicemail_message: str | None = Field(default=None, min_length=1, max_length=500)
    queue_deadline_s: float | None = Field(
        default=None,
        ge=1,
        le=3600,
        description="over a limit: queue the call (202, state `queued`) and dial when admitted, "
        "giving up after this many seconds (outcome `queue-timeout`); absent: 429 naming the limit",
    )


class TransferBody(In):
    to: str = TARGET


class CallOut(Out):
    id: str
    sip_call_id: str
    business_id: str | None
    agent_id: str | None
    agent_version: int | None = Field(
        default=None, description="the agent's published version that took the call (None: a draft tried)"
    )
    direction: str
    transport: str = Field(description="what carried the call: sip, twilio, telnyx or browser")
    node: str | None = Field(default=None, description="the node that holds (or held) the call")
    state: str
    outcome: str | None
    from_number: str | None
    to: str | None
    trunk_id: str | None
    ended_by: str | None
    transfer_to: str | None
    transfer_state: str | None
    metadata: dict[str, str]
    amd: dict[str, Any] | None = Field(default=None, description="answering-machine detection's verdict")
    quality: dict[str, float] = Field(description="media counters: packets, loss, jitter (SIP calls)")
    recording: bool
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    conversation: dict[str, Any] | None = Field(
        default=None, description="voice agents: transcript, turns, usage, failovers, tools"
    )
    cost: dict[str, Any] | None = Field(
        default=None,
        description="once ended: items per component (quantity x unit price), total, billable_total",
    )
    latency: dict[str, Any] | None = Field(
        default=None, description="once ended: per-turn components and p50/p95 over the call"
    )
    analysis: dict[str, Any] | None = Field(
        default=None,
        description="once analysed (stored records): status, engine, summary, success, sentiment, intents, "
        "tools, entities, extracted fields, follow-up, its cost and time",
    )


class CallList(Out):
    items: list[CallOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null at the end")
    data: list[CallOut] = Field(
        deprecated=True, description="the same as `items`, kept until 2027-06 for clients of the first API"
    )


class LiveOut(Out):
    calls: list[CallOut] = Field(description="calls up or ringing on every node, newest first")
    in_use: int | None = Field(description="the business's calls up now on every node (the capacity backend)")
    max_concurrent_calls: int | None
    minutes_this_month: float | None
    monthly_minutes: int | None


def render(call: Call, node: str | None = None) -> CallOut:
    """A call of this node (`node`) as the API shows it."""
    record = call.call_record
    return CallOut(
        id=call.id,
        node=node,
        sip_call_id=call.call_id,
        conversation=call.summary(),
        business_id=call.business_id,
        agent_id=call.agent_id,
        agent_version=call.agent_version,
        direction=call.direction,
        transport=call.transport,
        state=call.state.value,
        outcome=call.outcome,
        from_number=call.from_number,
        to=call.to,
        trunk_id=call.trunk_id,
        ended_by=call.ended_by,
        transfer_to=call.transfer_to,
        transfer_state=call.transfer_state,
        metadata=call.metadata,
        amd=call.amd,
        quality=call.media_summary,
        recording=call.recording_path is not None,
        created_at=call.created_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        cost=record.cost if record is not None else None,
        latency=record.latency.model_dump() if record is not None else None,
    )


def with_analysis(call: CallOut, record: dict[str, Any] | None) -> CallOut:
    """A call rendered from memory, with what its stored record gained since: the analysis, and the
    cost with the analysis's item."""
    if record is None or not record.get("analysis"):
        return call
    return call.model_copy(update={"analysis": record["analysis"], "cost": record.get("cost") or call.cost})


def render_record(document: dict[str, Any]) -> CallOut:
    """A stored call record (its typed model), in the same shape as a live call."""
    record = CallRecord.model_validate(document)
    return CallOut(
        id=record.id,
        node=record.node,
        sip_call_id=record.sip_call_id,
        business_id=record.business_id,
        agent_id=record.agent_id,
        agent_version=record.agent_version,
        direction=record.direction,
        transport=record.transport,
        state="ended",
        outcome=record.outcome,
        from_number=record.from_number,
        to=record.to,
        trunk_id=record.trunk_id,
        ended_by=record.ended_by,
        transfer_to=record.transfer_to,
        transfer_state=None,
        metadata=record.metadata,
        amd=record.amd,
        analysis=record.analysis,
        quality={k: v for k, v in record.quality.items() if v is not None},
        recording=record.recording is not None,
        created_at=datetime.fromisoformat(record.created_at),
        answered_at=datetime.fromisoformat(record.answered_at) if record.answered_at else None,
        ended_at=datetime.fromisoformat(record.ended_at) if record.ended_at else None,
        conversation={
            "transcript": record.transcript,
            "usage": record.usage,
            "failovers": record.failovers,
            "tools": record.tools,
        },
        cost=record.cost,
        latency=record.latency.model_dump(),
    )
