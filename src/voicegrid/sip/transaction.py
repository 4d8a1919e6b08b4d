"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state), sans-I/O: fed messages and `now`.

Four machines, each one table from (state, input) to (next state, actions). Network inputs that
fit no row are absorbed (a late retransmission is normal); a call from the transaction user that
fits no row raises TransactionError. Timers are deadlines: `get_timer()` says when to call
`handle_timer(now)` next; nothing here sleeps or reads a clock.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from voicegrid.sip.errors import TransactionError
from voicegrid.sip.message import Request, Response


@dataclass(frozen=True, slots=True)
class Timers:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


DEFAULT_TIMERS = Timers()


class State(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


# Inputs: responses by class, requests, TU calls, timers.
R1XX, R2XX, RFINAL = "1xx", "2xx", "3xx-6xx"
REQUEST, ACK = "request", "ack"
TU_1XX, TU_2XX, TU_FINAL = "tu-1xx", "tu-2xx", "tu-3xx-6xx"
TIMER_A, TIMER_B, TIMER_D, TIMER_E, TIMER_F, TIMER_K = "A", "B", "D", "E", "F", "K"
TIMER_G, TIMER_H, TIMER_I, TIMER_J, TIMER_L, TIMER_M = "G", "H", "I", "J", "L", "M"
TU_INPUTS = frozenset({TU_1XX, TU_2XX, TU_FINAL})

S = State
Row = tuple[State, tuple[str, ...]]

# Client INVITE (Figure 5 with RFC 6026 §8.4).
ICT: dict[tuple[State, str], Row] = {
    (S.CALLING, TIMER_A): (S.CALLING, ("retransmit", "backoff_A")),
    (S.CALLING, TIMER_B): (S.TERMINATED, ("timeout",)),
    (S.CALLING, R1XX): (S.PROCEEDING, ("pass_up", "stop_A", "stop_B")),
    (S.PROCEEDING, R1XX): (S.PROCEEDING, ("pass_up",)),
    (S.CALLING, R2XX): (S.ACCEPTED, ("pass_up", "stop_A", "stop_B", "start_M")),
    (S.PROCEEDING, R2XX): (S.ACCEPTED, ("pass_up", "start_M")),
    (S.ACCEPTED, R2XX): (S.ACCEPTED, ("pass_up",)),  # the TU answers each 2xx with its ACK
    (S.ACCEPTED, TIMER_M): (S.TERMINATED, ()),
    (S.CALLING, RFINAL): (S.COMPLETED, ("send_ack", "pass_up", "stop_A", "stop_B", "start_D")),
    (S.PROCEEDING, RFINAL): (S.COMPLETED, ("send_ack", "pass_up", "start_D")),
    (S.COMPLETED, RFINAL): (S.COMPLETED, ("send_ack",)),
    (S.COMPLETED, TIMER_D): (S.TERMINATED, ()),
}
# Client non-INVITE (Figure 6).
NICT: dict[tuple[State, str], Row] = {
    (S.TRYING, TIMER_E): (S.TRYING, ("retransmit", "backoff_E")),
    (S.PROCEEDING, TIMER_E): (S.PROCEEDING, ("retransmit", "hold_E")),
    (S.TRYING, TIMER_F): (S.TERMINATED, ("timeout",)),
    (S.PROCEEDING, TIMER_F): (S.TERMINATED, ("timeout",)),
    (S.TRYING, R1XX): (S.PROCEEDING, ("pass_up",)),
    (S.PROCEEDING, R1XX): (S.PROCEEDING, ("pass_up",)),
    (S.TRYING, R2XX): (S.COMPLETED, ("pass_up", "stop_E", "stop_F", "start_K")),
    (S.TRYING, RFINAL): (S.COMPLETED, ("pass_up", "stop_E", "stop_F", "start_K")),
    (S.PROCEEDING, R2XX): (S.COMPLETED, ("pass_up", "stop_E", "stop_F", "start_K")),
    (S.PROCEEDING, RFINAL): (S.COMPLETED, ("pass_up", "stop_E", "stop_F", "start_K")),
    (S.COMPLETED, TIMER_K): (S.TERMINATED, ()),
}
# Server INVITE (Figure 7 with RFC 6026 §7.1): 2xx retransmissions belong to the UAS core.
IST: dict[tuple[State, str], Row] = {
    (S.PROCEEDING, REQUEST): (S.PROCEEDING, ("resend",)),
    (S.PROCEEDING, TU_1XX): (S.PROCEEDING, ("send",)),
    (S.PROCEEDING, TU_2XX): (S.ACCEPTED, ("send", "start_L")),
    (S.PROCEEDING, TU_FINAL): (S.COMPLETED, ("send", "start_G", "start_H")),
    (S.ACCEPTED, TU_2XX): (S.ACCEPTED, ("send",)),
    (S.ACCEPTED, TIMER_L): (S.TERMINATED, ()),
    (S.COMPLETED, REQUEST): (S.COMPLETED, ("resend",)),
    (S.COMPLETED, TIMER_G): (S.COMPLETED, ("resend", "backoff_G")),
    (S.COMPLETED, ACK): (S.CONFIRMED, ("stop_G", "stop_H", "start_I")),
    (S.COMPLETED, TIMER_H): (S.TERMINATED, ("timeout",)),
    (S.CONFIRMED, TIMER_I): (S.TERMINATED, ()),
}
# Server non-INVITE (Figure 8).
NIST: dict[tuple[State, str], Row] = {
    (S.TRYING, TU_1XX): (S.PROCEEDING, ("send",)),
    (S.TRYING, TU_2XX): (S.COMPLETED, ("send", "start_J")),
    (S.TRYING, TU_FINAL): (S.COMPLETED, ("send", "start_J")),
    (S.PROCEEDING, TU_1XX): (S.PROCEEDING, ("send",)),
    (S.PROCEEDING, TU_2XX): (S.COMPLETED, ("send", "start_J")),
    (S.PROCEEDING, TU_FINAL): (S.COMPLETED, ("send", "start_J")),
    (S.PROCEEDING, REQUEST): (S.PROCEEDING, ("resend",)),
    (S.COMPLETED, REQUEST): (S.COMPLETED, ("resend",)),
    (S.COMPLETED, TIMER_J): (S.TERMINATED, ()),
}


def response_class(status: int, *, from_tu: bool) -> str:
    if status < 200:
        return TU_1XX if from_tu else R1XX
    if status < 300:
        return TU_2XX if from_tu else R2XX
    return TU_FINAL if from_tu else RFINAL


@dataclass(slots=True)
class TxEvent:
    """What a transaction tells its user: a response (client), a timeout, or that it ended."""

    kind: str  # "response", "timeout", "terminated"
    transaction: "Transaction"
    response: Response | None = None


_ids = itertools.count(1)


@dataclass(eq=False)
class Transaction:
    """One transaction; `outbox` holds bytes to send, `events` what the user should hear."""

    table: dict[tuple[State, str], Row]
    request: Request
    reliable: bool
    timers: Timers
    state: State
    id: int = field(default_factory=lambda: next(_ids))
    deadlines: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, float] = field(default_factory=dict)
    outbox: list[bytes] = field(default_factory=list)
    events: list[TxEvent] = field(default_factory=list)
    last_response: Response | None = None
    ack: Request | None = None
    _pending: Response | None = None
    on_ack: Callable[[Response], Request] | None = None  # builds the ACK for a non-2xx (client INVITE)

    @property
    def terminated(self) -> bool:
        return self.state is S.TERMINATED

    def get_timer(self) -> float | None:
        return min(self.deadlines.values()) if self.deadlines else None

    def handle_timer(self, now: float) -> None:
        for name, when in sorted(self.deadlines.items(), key=lambda kv: kv[1]):
            if when <= now and name in self.deadlines:
                del self.deadlines[name]
                self._fire(name, now)

    def _fire(self, what: str, now: float, response: Response | None = None) -> None:
        row = self.table.get((self.state, what))
        if row is None:
            if what in TU_INPUTS:
                raise TransactionError(f"cannot send a {what[3:]} response in state {self.state.value}")
            return  # a late or duplicate network input: absorbed
        self._pending = response
        next_state, actions = row
        for action in actions:
            self._act(action, now)
        self.state = next_state
        if next_state is S.TERMINATED:
            self.deadlines.clear()
            self.events.append(TxEvent("terminated", self))

    def _start(self, name: str, now: float, interval: float) -> None:
        self.intervals[name] = interval
        self.deadlines[name] = now + interval

    def _act(self, action: str, now: float) -> None:  # one branch per action named in the tables
        t = self.timers
        unreliable = not self.reliable
        if action == "retransmit":
            self.outbox.append(bytes(self.request))
        elif action == "backoff_A":  # INVITE retransmissions double without a cap (§17.1.1.2)
            self._start("A", now, self.intervals["A"] * 2)
        elif action == "backoff_G":
            self._start("G", now, min(self.intervals["G"] * 2, t.t2))
        elif action == "backoff_E":
            self._start("E", now, min(self.intervals["E"] * 2, t.t2))
        elif action == "hold_E":
            self._start("E", now, t.t2)
        elif action.startswith("stop_"):
            self.deadlines.pop(action[-1], None)
        elif action == "start_D":
            self._start("D", now, 32.0 if unreliable else 0.0)
        elif action == "start_K":
            self._start("K", now, t.t4 if unreliable else 0.0)
        elif action == "start_G":
            if unreliable:
                self._start("G", now, t.t1)
        elif action == "start_H":
            self._start("H", now, 64 * t.t1)
        elif action == "start_I":
            self._start("I", now, t.t4 if unreliable else 0.0)
        elif action == "start_J":
            self._start("J", now, 64 * t.t1 if unreliable else 0.0)
        elif action in ("start_L", "start_M"):
            self._start(action[-1], now, 64 * t.t1)
        elif action == "pass_up":
            self.events.append(TxEvent("response", self, self._pending))
        elif action == "timeout":
            self.events.append(TxEvent("timeout", self))
        elif action == "send_ack":
            if self._pending is not None and self.on_ack is not None:
                self.ack = self.on_ack(self._pending)
                self.outbox.append(bytes(self.ack))
        elif action == "send":
            self.last_response = self._pending
            if self._pending is not None:
                self.outbox.append(bytes(self._pending))
        elif action == "resend":
            if self.last_response is not None:
                self.outbox.append(bytes(self.last_response))
        else:  # pragma: no cover - the tables name only the actions above
            raise TransactionError(f"unknown action {action}")


class ClientTransaction(Transaction):
    @classmethod
    def start(
        cls,
        request: Request,
        now: float,
        *,
        reliable: bool,
        timers: Timers = DEFAULT_TIMERS,
        on_ack: Callable[[Response], Request] | None = None,
    ) -> "ClientTransaction":
        invite = request.method == "INVITE"
        tx = cls(
            table=ICT if invite else NICT,
            request=request,
            reliable=reliable,
            timers=timers,
            state=S.CALLING if invite else S.TRYING,
            on_ack=on_ack,
        )
        tx.outbox.append(bytes(request))
        if invite:
            if not reliable:
                tx._start("A", now, timers.t1)
            tx._start("B", now, 64 * timers.t1)
        else:
            if not reliable:
                tx._start("E", now, timers.t1)
            tx._start("F", now, 64 * timers.t1)
        return tx

    def receive(self, response: Response, now: float) -> None:
        self._fire(response_class(response.status, from_tu=False), now, response)


class ServerTransaction(Transaction):
    @classmethod
    def start(
        cls, request: Request, now: float, *, reliable: bool, timers: Timers = DEFAULT_TIMERS
    ) -> "ServerTransaction":
        invite = request.method == "INVITE"
        return cls(
            table=IST if invite else NIST,
            request=request,
            reliable=reliable,
            timers=timers,
            state=S.PROCEEDING if invite else S.TRYING,
        )

    def respond(self, response: Response, now: float) -> None:
        """Send a response from the transaction user; a response the state does not allow raises."""
        self._fire(response_class(response.status, from_tu=True), now, response)

    def receive(self, request: Request, now: float) -> None:
        """A retransmission of the request, or (INVITE) the ACK of a non-2xx final response."""
        self._fire(ACK if request.method == "ACK" else REQUEST, now)
