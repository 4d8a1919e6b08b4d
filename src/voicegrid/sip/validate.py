"""What a UAS checks before it acts on a message: mandatory headers, single values, scalar ranges.

Kept apart from framing (message.py) so that a request that frames but fails here can still be
answered, statelessly, with the status its ParseError carries.
"""

import re

from voicegrid.sip.errors import ParseError
from voicegrid.sip.grammar import TOKEN, parse_uint32, split_top
from voicegrid.sip.message import Message, Request
from voicegrid.sip.uri import SipUri, parse_uri

_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID = re.compile(f"{_WORD}(?:@{_WORD})?")
_SINGLE = ("To", "From", "Call-ID", "CSeq", "Max-Forwards")


def _single(msg: Message, name: str, required: bool) -> str | None:
    values = msg.headers.raw_values(name)
    if not values:
        if required:
            raise ParseError(f"missing {name} header")
        return None
    if len(values) > 1:
        raise ParseError(f"more than one {name} header")
    return values[0]


def _address(msg: Message, name: str) -> None:
    value = _single(msg, name, required=True) or ""
    if len(split_top(value, ",")) > 1:
        raise ParseError(f"more than one value in {name}")
    msg.address(name, value)


MAX_CALL_ID = 255


def validate(msg: Message) -> None:
    """Raise ParseError (status 400 unless said otherwise) unless a UAS can act on `msg`."""
    vias = msg.headers.values("Via")
    if not vias:
        raise ParseError("missing Via header")
    for value in vias:
        msg.via(value)
    _address(msg, "To")
    _address(msg, "From")
    call_id = _single(msg, "Call-ID", required=True)
    if not _CALL_ID.fullmatch(call_id or ""):
        raise ParseError("malformed Call-ID")
    if len(call_id or "") > MAX_CALL_ID:  # it is stored with the call: no longer than the store holds
        raise ParseError(f"Call-ID over {MAX_CALL_ID} characters")
    cseq = _single(msg, "CSeq", required=True) or ""
    number, _, method = cseq.partition(" ")
    parse_uint32(number, "CSeq")
    method = method.strip(" \t")
    if not TOKEN.fullmatch(method):
        raise ParseError("CSeq method is not a token")
    max_forwards = _single(msg, "Max-Forwards", required=False)
    if max_forwards is not None and parse_uint32(max_forwards, "Max-Forwards") > 255:
        raise ParseError("Max-Forwards above 255")
    if isinstance(msg, Request):
        _validate_request(msg, method)
    else:
        _validate_response(msg)


def _validate_request(msg: Request, cseq_method: str) -> None:
    if cseq_method != msg.method:
        raise ParseError(f"CSeq method {cseq_method[:40]} does not match the request method")
    uri = parse_uri(msg.uri)
    if isinstance(uri, SipUri) and uri.headers is not None:
        raise ParseError("headers are not allowed in a Request-URI")
    for value in msg.headers.values("Contact"):
        if value == "*":
            continue
        contact = msg.address("Contact", value)
        expires = contact.params.get("expires")
        if expires is not None:
            parse_uint32(expires, "Contact expires")
    for value in msg.headers.raw_values("Expires"):
        parse_uint32(value, "Expires")


def _validate_response(msg: Message) -> None:
    for value in msg.headers.raw_values("Retry-After"):
        parse_uint32(re.split(r"[ \t;(]", value, maxsplit=1)[0], "Retry-After")
    for value in msg.headers.values("Warning"):
        code = value.split(" ", 1)[0]
        if len(code) != 3 or not code.isdigit():
            raise ParseError(f"Warning code {code[:20]!r} is not three digits")
