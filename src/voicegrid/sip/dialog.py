"""SIP dialogs (RFC 3261 §12): made from a 2xx (or a 1xx with a to-tag), they carry the in-dialog state.

State changes follow one table; a request or response that does not fit raises DialogError.
"""

from dataclasses import dataclass, field
from enum import Enum

from voicegrid.sip.address import Address, parse_address
from voicegrid.sip.errors import DialogError
from voicegrid.sip.headers import Headers
from voicegrid.sip.message import Request, Response
from voicegrid.sip.uri import SipUri


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


D = DialogState
TRANSITIONS: dict[tuple[DialogState, str], DialogState] = {
    (D.EARLY, "1xx"): D.EARLY,
    (D.EARLY, "2xx"): D.CONFIRMED,
    (D.EARLY, "failure"): D.TERMINATED,
    (D.EARLY, "bye"): D.TERMINATED,
    (D.CONFIRMED, "2xx"): D.CONFIRMED,  # a retransmitted 2xx, or a re-INVITE's
    (D.CONFIRMED, "bye"): D.TERMINATED,
    (D.CONFIRMED, "request"): D.CONFIRMED,
    (D.EARLY, "request"): D.EARLY,
}

DialogId = tuple[str, str, str]  # Call-ID, local tag, remote tag


@dataclass(eq=False)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local: str  # our address as it goes into From (UAC) or To (UAS), with no tag
    remote: str
    remote_target: str  # the peer's Contact URI
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int | None = None
    state: DialogState = D.EARLY
    is_uac: bool = False

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    def step(self, what: str) -> None:
        nxt = TRANSITIONS.get((self.state, what))
        if nxt is None:
            raise DialogError(f"dialog {self.state.value} cannot take {what}")
        self.state = nxt

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str) -> "Dialog":
        contact = invite.headers.values("Contact")
        if not contact:
            raise DialogError("INVITE without Contact cannot make a dialog")
        target = invite.address("Contact", contact[0]).uri
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_.tag or "",
            local=_without_tag(invite.headers.get("To") or ""),
            remote=_without_tag(invite.headers.get("From") or ""),
            remote_target=str(target),
            route_set=invite.headers.values("Record-Route"),
            remote_cseq=invite.cseq[0],
        )

    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> "Dialog":
        contact = response.headers.values("Contact")
        target = response.address("Contact", contact[0]).uri if contact else None
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_.tag or "",
            remote_tag=response.to.tag or "",
            local=_without_tag(invite.headers.get("From") or ""),
            remote=_without_tag(response.headers.get("To") or ""),
            remote_target=str(target) if target is not None else invite.uri,
            route_set=list(reversed(response.headers.values("Record-Route"))),
            local_cseq=invite.cseq[0],
            is_uac=True,
        )

    def check_remote_cseq(self, request: Request) -> None:
        """In-dialog requests come with rising CSeq numbers (§12.2.2); ACK and CANCEL reuse theirs."""
        number, method = request.cseq
        if method in ("ACK", "CANCEL"):
            return
        if self.remote_cseq is not None and number <= self.remote_cseq:
            raise DialogError(f"CSeq {number} is not above {self.remote_cseq}")
        self.remote_cseq = number

    def new_request(
        self, method: str, contact: str, body: bytes = b"", extra: Headers | None = None
    ) -> Request:
        """An in-dialog request: to the remote target via the route set, with the next CSeq (§12.2.1.1)."""
        if method != "ACK":
            self.local_cseq += 1
        headers = Headers()
        uri = self.remote_target
        routes = list(self.route_set)
        if routes and ";lr" not in routes[0]:  # strict router: it becomes the Request-URI (§12.2.1.1)
            uri = routes.pop(0).strip("<>")
            routes.append(f"<{self.remote_target}>")
        for route in routes:
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", f"{self.local};tag={self.local_tag}")
        headers.add("To", f"{self.remote};tag={self.remote_tag}")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.local_cseq} {method}")
        headers.add("Contact", contact)
        for name, value in extra or Headers():
            headers.add(name, value)
        return Request(headers=headers, body=body, method=method, uri=uri)

    def next_hop(self) -> SipUri | None:
        """Where in-dialog requests go first: the first route, else the remote target."""
        target = self.route_set[0] if self.route_set else f"<{self.remote_target}>"
        uri = parse_address(target, "Route").uri
        return uri if isinstance(uri, SipUri) else None


def _without_tag(value: str) -> str:
    address: Address = parse_address(value, "From/To")
    address.params.pop("tag", None)
    return str(address)
