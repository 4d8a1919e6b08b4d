"""The Via header (RFC 3261 §20.42, RFC 3581 rport): transport, sent-by, and parameters."""

import re
from dataclasses import dataclass, field

from voicegrid.sip.errors import ParseError
from voicegrid.sip.grammar import HOST, TOKEN_CHARS, Params, format_params, parse_params

MAGIC_COOKIE = "z9hG4bK"
_SLASH = r"[ \t]*/[ \t]*"
_VIA = re.compile(
    rf"SIP{_SLASH}2\.0{_SLASH}([{TOKEN_CHARS}]+)[ \t]+({HOST})(?:[ \t]*:[ \t]*([0-9]{{1,5}}))?[ \t]*",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Via:
    transport: str  # upper case: UDP, TCP, TLS, SCTP, or an extension token
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie and something after it (else RFC 2543 matching)."""
        b = self.branch
        return b is not None and b.startswith(MAGIC_COOKIE) and len(b) > len(MAGIC_COOKIE)

    @property
    def sent_by(self) -> tuple[str, int]:
        return self.host, self.port or (5061 if self.transport == "TLS" else 5060)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    m = _VIA.match(value.strip(" \t"))
    if m is None:
        raise ParseError(f"malformed Via: {value.strip()[:80]!r}")
    port = int(m.group(3)) if m.group(3) else None
    if port is not None and port > 65535:
        raise ParseError("Via: port above 65535")
    params = parse_params(value.strip(" \t")[m.end() :], "Via")
    return Via(m.group(1).upper(), m.group(2), port, params)
