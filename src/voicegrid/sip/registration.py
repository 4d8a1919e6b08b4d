"""Registering with a carrier (RFC 3261 §10), sans-I/O: refresh before expiry, back off on failure.

The object builds each REGISTER and reads each final response; the caller sends them (through the
user agent, which answers digest challenges) and calls `request(now)` again when `get_timer()` says.
"""

from dataclasses import dataclass, field

from voicegrid.sip.build import new_call_id, new_tag
from voicegrid.sip.errors import ParseError
from voicegrid.sip.grammar import parse_uint32
from voicegrid.sip.headers import Headers
from voicegrid.sip.message import Request, Response

MIN_REFRESH_S = 1.0
RETRY_FIRST_S = 30.0
RETRY_MAX_S = 600.0


def refresh_after(granted: float) -> float:
    """When to re-register: well before expiry (RFC 3261 §10.2.4 leaves the margin to the client)."""
    return max(MIN_REFRESH_S, min(granted * 0.8, granted - 30.0) if granted > 60 else granted / 2)


@dataclass(eq=False)
class Registration:
    registrar_uri: str  # Request-URI, e.g. sip:carrier.example
    aor: str  # address of record, e.g. sip:+15550100@carrier.example
    contact: str  # <sip:user@our-host:port>
    expires: int = 3600
    call_id: str = field(default_factory=lambda: new_call_id("voicegrid"))
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 0
    state: str = "idle"  # idle, registering, registered, failed
    expires_at: float | None = None
    next_at: float | None = None
    failures: int = 0
    last_status: int | None = None

    def request(self, now: float) -> Request:
        self.cseq += 1
        self.state = "registering" if self.state != "registered" else "registered"
        self.next_at = None
        headers = Headers()
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{self.aor}>;tag={self.from_tag}")
        headers.add("To", f"<{self.aor}>")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.cseq} REGISTER")
        headers.add("Contact", self.contact)
        headers.add("Expires", str(self.expires))
        return Request(headers=headers, body=b"", method="REGISTER", uri=self.registrar_uri)

    def _granted(self, response: Response) -> int:
        ours = self.contact.strip("<>").split(";", 1)[0]
        try:
            for value in response.headers.values("Contact"):
                address = response.address("Contact", value)
                if str(address.uri).split(";", 1)[0] == ours and "expires" in address.params:
                    return parse_uint32(address.params["expires"] or "", "expires")
            header = response.headers.get("Expires")
            if header is not None:
                return parse_uint32(header, "Expires")
        except ParseError:
            pass
        return self.expires

    def on_response(self, response: Response, now: float) -> None:
        """A final response (challenges are answered by the user agent before this)."""
        self.cseq = max(self.cseq, response.cseq[0])
        self.last_status = response.status
        if 200 <= response.status < 300:
            granted = self._granted(response)
            self.state = "registered"
            self.failures = 0
            self.expires_at = now + granted
            self.next_at = now + refresh_after(granted)
        elif response.status == 423:  # Interval Too Brief: ask for what the registrar wants
            minimum = response.headers.get("Min-Expires")
            if minimum is not None and minimum.isdigit():
                self.expires = int(minimum)
            self.next_at = now
        else:
            self._failed(now)

    def on_timeout(self, now: float) -> None:
        self.last_status = 408
        self._failed(now)

    def _failed(self, now: float) -> None:
        self.failures += 1
        if self.expires_at is None or now >= self.expires_at:
            self.state = "failed"
        self.next_at = now + min(RETRY_FIRST_S * 2 ** (self.failures - 1), RETRY_MAX_S)

    def get_timer(self) -> float | None:
        return self.next_at
