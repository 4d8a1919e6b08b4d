"""Calling windows, retries per outcome, and placeholders: what a campaign decides, on given time."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

# What a campaign makes of a call's outcome (`telephony.book.Call.outcome`): four kinds may be
# retried; the rest end the contact. `interrupted`: the node stopped or died during the attempt.
OUTCOMES = ("answered", "voicemail", "busy", "no-answer", "failed", "declined", "do-not-call")
_CLASS = {
    "answered": "answered", "completed": "answered", "transferred": "answered",
    "max-duration": "answered", "voicemail": "voicemail", "busy": "busy",
    "no-answer": "no-answer", "cancelled": "no-answer", "declined": "declined",
    "do-not-call": "do-not-call", "drained": "interrupted",
}  # fmt: skip
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,39})\}")


def outcome_class(call_outcome: str | None) -> str:
    """`busy`, `no-answer`, `voicemail`, `answered`, `declined`, `do-not-call`, else `failed`."""
    return _CLASS.get(call_outcome or "", "failed")


@dataclass(frozen=True, slots=True)
class RetryRule:
    attempts: int = 1  # how many attempts in all may end this way (1: no retry)
    delay_s: float = 600.0  # the wait before the next attempt


@dataclass(frozen=True, slots=True)
class Retries:
    """Per outcome, how often and how soon to try again; `max_attempts` caps them all together."""

    rules: Mapping[str, RetryRule] = field(default_factory=dict)  # busy, no-answer, failed, voicemail
    max_attempts: int = 3

    def next_delay(self, outcome: str, attempts: int, ended_this_way: int) -> float | None:
        """After `attempts` attempts of which `ended_this_way` ended as `outcome` (this one too):
        the wait before the next attempt, or None when the contact is done."""
        rule = self.rules.get("failed" if outcome == "interrupted" else outcome)
        if rule is None or attempts >= self.max_attempts or ended_this_way >= rule.attempts:
            return None
        return rule.delay_s


@dataclass(frozen=True, slots=True)
class Window:
    """Local hours (`start` to `end`, on `days`: 0 is Monday) when a contact may be called."""

    start: time = time(9)
    end: time = time(20)
    days: frozenset[int] = frozenset(range(5))

    def opens(self, now: datetime, zone: ZoneInfo) -> datetime:
        """`now` if the window is open in `zone` at `now`, else when it next opens (UTC)."""
        local = now.astimezone(zone)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            if day.weekday() not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=zone)
            closing = datetime.combine(day, self.end, tzinfo=zone)
            if local < closing:
                return max(now, opening.astimezone(UTC))
        raise ValueError("a window with no days never opens")


def window_of(spec: Mapping[str, object]) -> Window:
    """A window from its stored form: {"start": "09:00", "end": "20:00", "days": [0, 1, 2, 3, 4]}."""
    days = spec.get("days", list(range(5)))
    return Window(
        time.fromisoformat(str(spec.get("start", "09:00"))),
        time.fromisoformat(str(spec.get("end", "20:00"))),
        frozenset(int(d) for d in days) if isinstance(days, list) else frozenset(range(5)),
    )


def retries_of(spec: Mapping[str, Mapping[str, float]], max_attempts: int) -> Retries:
    """Retries from their stored form: {"busy": {"attempts": 3, "delay_s": 600}, ...}."""
    rules = {k: RetryRule(int(v.get("attempts", 1)), float(v.get("delay_s", 600))) for k, v in spec.items()}
    return Retries(rules, max_attempts)


def placeholders(template: str) -> set[str]:
    """The `{name}` placeholders of a greeting or prompt."""
    return set(_PLACEHOLDER.findall(template))


def fill(template: str, variables: Mapping[str, str]) -> str:
    """`template` with each `{name}` that `variables` holds replaced; other braces are left alone."""
    return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), template)
