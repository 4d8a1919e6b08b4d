"""Building messages from messages: responses to requests (§8.2.6), ACKs for non-2xx (§17.1.1.3), ids."""

import secrets

from voicegrid.sip.headers import Headers, check_value
from voicegrid.sip.message import Request, Response
from voicegrid.sip.via import MAGIC_COOKIE

REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
    603: "Decline",
}


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def response_to(
    request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> Response:
    """A response with the request's Via, From, To (plus our tag), Call-ID and CSeq (§8.2.6.2), and
    to an INVITE, the Record-Route of the proxies on its path (§12.1.1)."""
    headers = Headers()
    for value in request.headers.raw_values("Via"):
        headers.echo("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        single = request.headers.get(name)
        if single is not None:
            tagless = ";tag=" not in single.replace(" ", "").lower()
            if name == "To" and to_tag is not None and status > 100 and tagless:
                single = f"{single};tag={check_value('tag', to_tag)}"
            headers.echo(name, single)
    if request.method == "INVITE" and 100 < status < 300:
        # a response that may make a dialog carries the proxies' Record-Route, in order (§12.1.1)
        for value in request.headers.raw_values("Record-Route"):
            headers.echo("Record-Route", value)
    return Response(headers=headers, body=b"", status=status, reason=reason or REASONS.get(status, "Unknown"))


def cancel_for(invite: Request) -> Request:
    """The CANCEL of a pending INVITE: same Request-URI, Call-ID, From, To, CSeq number and top Via (§9.1)."""
    headers = Headers()
    headers.add("Via", invite.headers.raw_values("Via")[0])
    for value in invite.headers.raw_values("Route"):
        headers.add("Route", value)
    headers.add("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        headers.add(name, invite.headers.get(name) or "")
    headers.add("CSeq", f"{invite.cseq[0]} CANCEL")
    return Request(headers=headers, body=b"", method="CANCEL", uri=invite.uri)


def ack_for(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a non-2xx final response: same branch (§17.1.1.3)."""
    headers = Headers()
    top_via = invite.headers.raw_values("Via")[0]
    headers.add("Via", top_via)
    for value in invite.headers.raw_values("Route"):
        headers.add("Route", value)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", invite.headers.get("Call-ID") or "")
    number, _ = invite.cseq
    headers.add("CSeq", f"{number} ACK")
    return Request(headers=headers, body=b"", method="ACK", uri=invite.uri)
