"""What the user agent reports, as typed events of calls (sans-I/O: a pure function of the event).

The user agent speaks of transactions and dialogs; call control wants to know "a new call", "the
caller hung up", "our INVITE was answered". `classify` says which, so call control dispatches on
types, never on kind strings.
"""

from dataclasses import dataclass

from voicegrid.sip.dialog import Dialog
from voicegrid.sip.message import Request, Response
from voicegrid.sip.transaction import ClientTransaction
from voicegrid.sip.useragent import Event, Incoming, Outcome


@dataclass(frozen=True, slots=True)
class Invited:
    """A new INVITE, outside any dialog."""

    incoming: Incoming


@dataclass(frozen=True, slots=True)
class Acked:
    """The ACK of our 200: an inbound call is up."""

    incoming: Incoming


@dataclass(frozen=True, slots=True)
class Reinvited:
    """An INVITE inside a dialog (hold, codec change, session refresh)."""

    incoming: Incoming


@dataclass(frozen=True, slots=True)
class InDialog:
    """Any other request in a dialog (REFER, NOTIFY, INFO, OPTIONS, UPDATE): answered, then read."""

    incoming: Incoming


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over from the far end or the network: a BYE, a CANCEL, or our 200 never ACKed."""

    call_id: str
    outcome: Outcome
    by: str  # remote, local
    result: str | None  # the outcome the call gets, None: completed
    bye: bool  # we must still send a BYE (the ACK never came)


@dataclass(frozen=True, slots=True)
class InviteAnswered:
    """A response to our INVITE (provisional or final)."""

    call_id: str
    response: Response
    dialog: Dialog | None


@dataclass(frozen=True, slots=True)
class InviteRetried:
    """Our INVITE was sent again, with credentials: its transaction is a new one."""

    call_id: str
    transaction: ClientTransaction


@dataclass(frozen=True, slots=True)
class InviteTimedOut:
    call_id: str


@dataclass(frozen=True, slots=True)
class ReferAnswered:
    """The final response to our REFER; status None when it timed out."""

    call_id: str
    status: int | None


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Retransmitted2xx:
    """A 2xx to our INVITE again, after its transaction ended: our ACK was lost."""

    response: Response


CallEvent = (
    Invited
    | Acked
    | Reinvited
    | InDialog
    | Ended
    | InviteAnswered
    | InviteRetried
    | InviteTimedOut
    | ReferAnswered
    | RegisterOutcome
    | Retransmitted2xx
)
ENDINGS = {"bye": ("remote", None), "cancelled": ("remote", "cancelled"), "ack-timeout": ("local", "failed")}


def _request(outcome: Outcome) -> Request | None:
    return outcome.transaction.request if outcome.transaction is not None else None


def classify(event: Event) -> CallEvent | None:
    """The call event `event` is; None for what calls need not hear of."""
    if isinstance(event, Incoming):
        method = event.request.method
        if method == "INVITE":
            return Invited(event) if event.dialog is None else Reinvited(event) if event.transaction else None
        if method == "ACK":
            return Acked(event) if event.dialog is not None else None
        return InDialog(event) if event.transaction is not None else None
    if event.kind in ENDINGS:
        request = _request(event)
        call_id = event.dialog.call_id if event.dialog is not None else request.call_id if request else ""
        by, result = ENDINGS[event.kind]
        return Ended(call_id, event, by, result, bye=event.kind == "ack-timeout")
    request = _request(event)
    if request is None:
        if event.kind == "response" and event.response is not None:
            return Retransmitted2xx(event.response)
        return None
    if request.method == "REGISTER":
        return RegisterOutcome(event)
    if request.method == "REFER":
        if event.kind == "timeout":
            return ReferAnswered(request.call_id, None)
        if event.response is not None and event.response.status >= 200:
            return ReferAnswered(request.call_id, event.response.status)
        return None
    if request.method != "INVITE":
        return None
    if event.kind == "retried" and isinstance(event.transaction, ClientTransaction):
        return InviteRetried(request.call_id, event.transaction)
    if event.kind == "timeout":
        return InviteTimedOut(request.call_id)
    if event.kind == "response" and event.response is not None:
        return InviteAnswered(request.call_id, event.response, event.dialog)
    return None
