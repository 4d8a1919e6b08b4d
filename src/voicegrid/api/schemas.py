"""Shared pydantic pieces of the API: strict models, names, colours, limits."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=2000)]
LongText = Annotated[str, StringConstraints(max_length=100_000)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")]
Domain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    ),
]
HttpUrlText = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s]+$")]


class In(BaseModel):
    """Request bodies: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Stamped(Out):
    id: str
    created_at: datetime
    updated_at: datetime


class LimitsBody(In):
    """None (or absent) means unlimited."""

    max_concurrent_calls: int | None = Field(default=None, ge=0, le=1_000_000)
    max_outbound_cps: float | None = Field(default=None, ge=0, le=10_000)
    monthly_minutes: int | None = Field(default=None, ge=0, le=10**12)
    reserved_inbound_calls: int | None = Field(
        default=None, ge=0, le=1_000_000, description="of max_concurrent_calls, kept free for inbound calls"
    )

    @model_validator(mode="after")
    def _reserve_within_maximum(self) -> "LimitsBody":
        if self.reserved_inbound_calls and (
            self.max_concurrent_calls is None or self.reserved_inbound_calls > self.max_concurrent_calls
        ):
            raise ValueError("reserved_inbound_calls needs a max_concurrent_calls at least as large")
        return self


class LimitsOut(Out):
    max_concurrent_calls: int | None
    max_outbound_cps: float | None
    monthly_minutes: int | None
    reserved_inbound_calls: int | None = None


class TenantOut(LimitsOut):
    """What resellers and businesses share: identity, switch, limits, timestamps."""

    id: str
    name: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
