"""Trial calls: a draft of an agent answers one real SIP call, placed by this node to itself.

The API issues a one-use token for the draft (a copy of the agent, not in any session) and dials
`sip:trial-<token>@<this node>` from loopback; the inbound router takes the token back and plans the
call with the draft, under the business's limits like any other call. A token is 128 random bits,
lives 30 s, is taken once, and is honoured only from an address of this host; the book holds at
most `max_waiting` tokens and one trial per business at a time, so nothing here grows unbounded.
"""

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicegrid.store.models import Agent
from voicegrid.telephony.errors import TelephonyError

PREFIX = "trial-"
TOKEN_CHARS = 22  # token_urlsafe(16)


class TrialsBusy(TelephonyError):
    """Too many trials under way on this node, or one already for this business."""


@dataclass(slots=True)
class _Waiting:
    agent: Agent
    expires: float


@dataclass(slots=True)
class TrialBook:
    max_waiting: int = 16
    ttl_s: float = 30.0
    _waiting: dict[str, _Waiting] = field(default_factory=dict)
    _businesses: set[str] = field(default_factory=set)

    def _expire(self, now: float) -> None:
        for token in [t for t, w in self._waiting.items() if w.expires <= now]:
            del self._waiting[token]

    def begin(self, business_id: str) -> None:
        """One trial per business at a time: released by `end`, on every path."""
        if business_id in self._businesses or len(self._businesses) >= self.max_waiting:
            raise TrialsBusy("a trial call of this business is under way; try again when it ends")
        self._businesses.add(business_id)

    def end(self, business_id: str) -> None:
        self._businesses.discard(business_id)

    def issue(self, draft: Agent, now: float | None = None) -> str:
        """A token for one call answered by `draft` (its `version` 0: not a published version)."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        if len(self._waiting) >= self.max_waiting:
            raise TrialsBusy("too many trial calls waiting on this node")
        token = secrets.token_urlsafe(16)
        self._waiting[token] = _Waiting(draft, now + self.ttl_s)
        return token

    def take(self, user: str, now: float | None = None) -> Agent | None:
        """The draft a Request-URI user `trial-<token>` was issued for, once; None if unknown or late."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        token = user[len(PREFIX) :]
        if not user.startswith(PREFIX) or len(token) != TOKEN_CHARS:
            return None
        waiting = self._waiting.pop(token, None)
        return waiting.agent if waiting is not None else None

    def withdraw(self, token: str) -> None:
        self._waiting.pop(token, None)

    def __len__(self) -> int:
        return len(self._waiting)


@dataclass(frozen=True, slots=True)
class TrialTurn:
    speaker: str  # agent or caller
    text: str  # the caller's line; the agent's words as the platform recorded them
    voice_to_voice_ms: float | None  # agent turns: from the end of our line to its first audio


@dataclass(frozen=True, slots=True)
class TrialResult:
    call_id: str | None  # the platform's call (its record), when the call was answered
    answered: bool
    completed: bool  # every line said, and the agent answered each
    turns: list[TrialTurn]
    record: dict[str, Any] | None  # the call record (transcript, latency, cost), once built


class TrialRunner(Protocol):
    async def __call__(self, draft: Agent, lines: list[str]) -> TrialResult: ...
