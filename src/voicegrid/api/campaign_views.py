"""The campaigns API's bodies and views: what a campaign is made of, and what it reports."""

from datetime import datetime, time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from voicegrid.api.schemas import In, Name, Out, Stamped
from voicegrid.campaigns.contacts import ContactList

Retryable = Literal["busy", "no-answer", "failed", "voicemail"]
Amd = Literal["off", "detect", "message"]


class WindowIn(In):
    start: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(default="20:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
    days: list[int] = Field(default=[0, 1, 2, 3, 4], min_length=1, max_length=7, description="0 is Monday")

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in days):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return sorted(set(days))

    @model_validator(mode="after")
    def _order(self) -> "WindowIn":
        if self.end == "24:00":
            self.end = "23:59"
        if time.fromisoformat(self.start) >= time.fromisoformat(self.end):
            raise ValueError("the window must end after it starts (local time, the same day)")
        return self


class RetryIn(In):
    attempts: int = Field(ge=1, le=10, description="attempts in all that may end this way")
    delay_s: float = Field(ge=0, le=7 * 86400, description="the wait before trying again")


class ContactIn(In):
    number: str = Field(max_length=40)
    name: str = Field(default="", max_length=200)
    timezone: str = Field(default="", max_length=64, description="IANA; absent: from the number")
    variables: dict[str, str] = Field(default_factory=dict, max_length=50)

    def row(self) -> dict[str, str]:
        return {**{k.lower(): v for k, v in self.variables.items()}, "number": self.number,
                "name": self.name, "timezone": self.timezone}  # fmt: skip


class ContactsIn(In):
    contacts: list[ContactIn] = Field(min_length=1, max_length=10_000)


def _default_retries() -> dict[Retryable, RetryIn]:
    return {
        "busy": RetryIn(attempts=3, delay_s=600),
        "no-answer": RetryIn(attempts=3, delay_s=3600),
        "failed": RetryIn(attempts=2, delay_s=900),
    }


class CampaignIn(In):
    name: Name
    agent_id: str = Field(max_length=40)
    trunk_id: str | None = Field(default=None, max_length=40)
    caller_ids: list[str] = Field(default_factory=list, max_length=100, description="used in turn")
    window: WindowIn = Field(default_factory=WindowIn)
    max_concurrent: int = Field(default=5, ge=1, le=1000)
    calls_per_second: float = Field(default=1.0, ge=0.1, le=100)
    retries: dict[Retryable, RetryIn] = Field(default_factory=_default_retries)
    max_attempts: int = Field(default=3, ge=1, le=10)
    ring_timeout_s: float = Field(default=30.0, ge=5, le=120)
    amd: Amd | None = Field(default=None, description="absent: the agent's own setting")
    voicemail_message: str | None = Field(default=None, min_length=1, max_length=500)
    default_region: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="ISO country of numbers written without +"
    )
    contacts: list[ContactIn] = Field(default_factory=list, max_length=10_000)


# What a draft, scheduled or paused campaign may change: all but its agent (its contacts' columns were
# taken for that agent's placeholders) and its contacts (added apart, and never taken back).
CHANGEABLE = (
    "name", "trunk_id", "caller_ids", "window", "max_concurrent", "calls_per_second", "retries",
    "max_attempts", "ring_timeout_s", "amd", "voicemail_message",
)  # fmt: skip


class CampaignChange(In):
    """The settings to change; those left out stay. A new window applies to the contacts waiting for
    the old one too; new retries to the attempts that end from now; fewer attempts end the contacts
    that have had them."""

    name: Name | None = None
    trunk_id: str | None = Field(default=None, max_length=40, description="null: any of the business's")
    caller_ids: list[str] | None = Field(default=None, max_length=100)
    window: WindowIn | None = None
    max_concurrent: int | None = Field(default=None, ge=1, le=1000)
    calls_per_second: float | None = Field(default=None, ge=0.1, le=100)
    retries: dict[Retryable, RetryIn] | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    ring_timeout_s: float | None = Field(default=None, ge=5, le=120)
    amd: Amd | None = Field(default=None, description="null: the agent's own setting")
    voicemail_message: str | None = Field(default=None, min_length=1, max_length=500)


class StartIn(In):
    at: datetime | None = Field(
        default=None, description="start by itself then (with its time zone); absent or past: now"
    )

    @field_validator("at")
    @classmethod
    def _zoned(cls, at: datetime | None) -> datetime | None:
        if at is not None and at.tzinfo is None:
            raise ValueError("give the time with its time zone (Z or +hh:mm)")
        return at


class RefusedRow(Out):
    row: int = Field(description="the CSV's row (the header is 1), or the index in `contacts` from 2")
    value: str
    reason: str


class ContactReport(Out):
    added: int
    refused: list[RefusedRow]
    ignored_columns: list[str]

    @classmethod
    def of(cls, found: ContactList, added: int, already: list[RefusedRow]) -> "ContactReport":
        refused = [RefusedRow(row=r.row, value=r.value, reason=r.reason) for r in found.refused]
        return cls(added=added, refused=sorted([*refused, *already], key=lambda r: r.row),
                   ignored_columns=found.ignored_columns)  # fmt: skip


class CampaignResults(Out):
    """What the campaign's ended calls came to, from its attempts (talk time) and their calls' records
    (money, in the catalog's currency; the analysis's verdict)."""

    calls: int = Field(description="ended calls with a stored record")
    answered: int
    talk_minutes: float = Field(description="from each answer to its hang-up")
    cost: float
    billable: float
    analyzed: int = Field(description="calls whose analysis gave a verdict")
    succeeded: int = Field(description="calls whose analysis judged them successful")
    success_rate: float | None = Field(description="succeeded / analyzed")
    cost_per_success: float | None = Field(description="the cost of all its calls / succeeded")


class CampaignOut(Stamped):
    business_id: str
    name: str
    agent_id: str
    trunk_id: str | None
    caller_ids: list[str]
    window: dict[str, Any]
    max_concurrent: int
    calls_per_second: float
    retries: dict[str, Any]
    max_attempts: int
    ring_timeout_s: float
    amd: str | None
    voicemail_message: str | None
    state: str
    state_reason: str = Field(description="why the platform paused it (its trunk or agent could not dial)")
    started_at: datetime | None
    finished_at: datetime | None
    starts_at: datetime | None = Field(description="a scheduled campaign's start")
    progress: dict[str, int] = Field(default_factory=dict, description="contacts by state and outcome")
    import_report: ContactReport | None = None
    results: CampaignResults | None = Field(default=None, description="on GET of one campaign")


class AttemptOut(Out):
    call_id: str
    attempt: int
    state: str
    outcome: str | None
    call_outcome: str | None
    started_at: datetime
    ended_at: datetime | None


class ContactOut(Out):
    id: str
    row: int
    number: str
    name: str
    timezone: str
    variables: dict[str, Any]
    state: str
    outcome: str | None
    attempts: int
    next_at: datetime | None
    calls: list[AttemptOut]
