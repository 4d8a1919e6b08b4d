"""Callers behind a SIP edge (Kamailio in front of several nodes): who really sent an INVITE.

Behind an edge every request arrives from the edge's address, so trunks' source checks and the
per-source INVITE rate would see one caller. The edge removes any `X-Voicegrid-Source` a caller
sent and adds its own: `<transport>:<address>:<port>` of the caller. This is the one check for that
header: it is believed only when the request's transport source is one of the configured edge
addresses, and only when it is exactly one well-formed value; from anyone else it is ignored (a
caller cannot name its own source), and a malformed one from the edge refuses the call.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from voicegrid.sip.message import Request
from voicegrid.sip.useragent import Addr
from voicegrid.telephony.errors import EdgeHeaderError

HEADER = "X-Voicegrid-Source"
TRANSPORTS = frozenset({"udp", "tcp", "tls", "sctp", "ws", "wss"})
MAX_VALUE = 64  # "sctp:" + the longest IPv6 text + ":65535" fits with room


def parse_source(value: str) -> Addr:
    """(transport, address, port) from `udp:192.0.2.7:5060` or `tcp:2001:db8::7:5061`."""
    if len(value) > MAX_VALUE:
        raise EdgeHeaderError(f"{HEADER} is over {MAX_VALUE} characters")
    transport, _, rest = value.strip().partition(":")
    host, _, port = rest.rpartition(":")
    transport = transport.lower()
    if transport not in TRANSPORTS:
        raise EdgeHeaderError(f"{HEADER} names no transport we know: {transport[:8]!r}")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise EdgeHeaderError(f"{HEADER} names no IP address") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise EdgeHeaderError(f"{HEADER} names no port")
    return (transport, str(address), int(port))


@dataclass(frozen=True, slots=True)
class EdgeTrust:
    """The addresses of this node's SIP edges (none: the node faces callers itself)."""

    edges: frozenset[str] = frozenset()

    @classmethod
    def of(cls, addresses: Iterable[str]) -> "EdgeTrust":
        return cls(frozenset(str(ipaddress.ip_address(a)) for a in addresses))

    def caller(self, request: Request, source: Addr) -> Addr:
        """The caller's transport source: the edge's word for it when the edge sent the request,
        else the transport's own. EdgeHeaderError when an edge's header is missing or malformed."""
        if source[1] not in self.edges:
            return source
        values = request.headers.values(HEADER)
        if len(values) != 1:
            raise EdgeHeaderError(f"the edge sent {len(values)} {HEADER} headers, not one")
        return parse_source(values[0])
