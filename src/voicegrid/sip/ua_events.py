"""What the user agent tells the application: a request to answer, or the outcome of one it sent."""

from dataclasses import dataclass

from voicegrid.sip.dialog import Dialog
from voicegrid.sip.message import Request, Response
from voicegrid.sip.transaction import ClientTransaction, ServerTransaction

Addr = tuple[str, str, int]  # transport ("udp" or "tcp"), host, port


@dataclass(slots=True)
class Incoming:
    """A request for the application: answer it with UserAgent.respond (ACK needs no answer)."""

    request: Request
    source: Addr
    transaction: ServerTransaction | None
    dialog: Dialog | None = None


@dataclass(slots=True)
class Outcome:
    """A response to a request the application sent, a timeout (response None), or a cancelled INVITE."""

    kind: str  # "response", "timeout", "cancelled", "ack-timeout", "bye"
    transaction: ClientTransaction | ServerTransaction | None
    response: Response | None = None
    dialog: Dialog | None = None


Event = Incoming | Outcome
