"""Where a call or a transfer may go: the one check for destinations a tenant, an agent or a caller
names, before any of them becomes a Request-URI or a Refer-To header."""

from voicegrid.sip.errors import ParseError
from voicegrid.sip.uri import SipUri, parse_uri
from voicegrid.sip.useragent import Addr
from voicegrid.tenancy import InvalidInput
from voicegrid.tenancy.phone import normalize_e164


def sip_target(to: str, field: str = "to") -> str:
    """The one check for a SIP URI a tenant, an agent or a caller names as a destination (a call, a
    transfer's Refer-To): parsed in full, with no headers part and nothing that could end a line."""
    try:
        uri = parse_uri(to)
    except ParseError as exc:
        raise InvalidInput(field, exc.reason) from None
    if not isinstance(uri, SipUri) or uri.headers is not None:
        raise InvalidInput(field, "a SIP URI without headers")
    return str(uri)


def transfer_target(to: str, peer: Addr | None) -> str:
    """Where a REFER sends the caller: a SIP URI, checked; a number at the call's peer (the carrier for
    an inbound call, our trunk's proxy for an outbound one), which routes numbers on its own network."""
    if to.startswith(("sip:", "sips:")):
        return sip_target(to)
    number = normalize_e164(to, "to")
    if peer is None:
        return f"tel:{number}"
    _, host, port = peer
    host = f"[{host}]" if ":" in host else host
    return f"sip:{number}@{host}" + (f":{port}" if port != 5060 else "")
