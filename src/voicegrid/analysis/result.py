"""What an analysis finds in one call: the record's `analysis`, the same shape from either engine."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Entity(BaseModel):
    """Something the caller said that a system can use: `text` as heard, `value` normalised
    (E.164, an address, ISO 8601, an amount with its currency)."""

    kind: Literal["phone", "email", "date", "time", "datetime", "amount", "count"]
    text: str
    value: str


class Verdict(BaseModel):
    passed: bool
    score: float | None = None  # 0-10 on the score scale
    reason: str = ""


class Sentiment(BaseModel):
    label: Literal["positive", "neutral", "negative"]
    score: float = 0.0  # -1 (negative) to 1 (positive)


class Intent(BaseModel):
    intent: str  # the knowledge base's question
    answered: bool


class CallFindings(BaseModel):
    """What the call's own facts say, whatever the engine: read from the record and the agent's
    knowledge base, without a model."""

    intents: list[Intent] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    failed_tools: list[str] = Field(default_factory=list)
    outcome: str | None = None
    transferred: bool = False
    entities: list[Entity] = Field(default_factory=list)
    agent_failed: list[str] = Field(default_factory=list)  # where the agent let the caller down
    follow_up: list[str] = Field(default_factory=list)  # what a person should pick up


class Analysis(CallFindings):
    """The record's `analysis`."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["pending", "done", "failed"]
    engine: Literal["embedded", "llm"]
    provider: str | None = None
    model: str | None = None
    at: str | None = None  # when it finished, ISO 8601 UTC
    ms: float | None = None  # how long it took
    attempts: int = 0
    cost: float = 0.0  # USD, also an item of the record's cost
    reason: str | None = None  # failed: why
    summary: str | None = None
    success: Verdict | None = None
    sentiment: Sentiment | None = None
    extracted: dict[str, Any] | None = None
    extraction_errors: list[str] = Field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
