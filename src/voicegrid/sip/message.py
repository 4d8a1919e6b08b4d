"""SIP requests and responses: framing and syntax from bytes, and back to bytes (RFC 3261 §7, §18.3).

`parse_message` is fed one datagram (or one framed stream message) and checks the start line, the
header lines and Content-Length framing within `Limits`; `validate` (validate.py) checks the
mandatory headers a UAS needs. Both raise ParseError carrying the status to answer with.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from voicegrid.sip.address import Address, parse_address
from voicegrid.sip.errors import MessageTooLarge, ParseError
from voicegrid.sip.grammar import TOKEN, parse_uint32, split_top
from voicegrid.sip.headers import Headers, canonical, canonical_cached, check_value
from voicegrid.sip.via import Via, parse_via

ENCODING = "utf-8"
ERRORS = "surrogateescape"  # every byte survives a parse and serialize round trip
_HEADER_NAME = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_VERSION = re.compile(r"SIP/(\d+)\.(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the parser will read; each breach is a clear ParseError."""

    max_message_bytes: int = 65_535
    max_header_bytes: int = 16_384
    max_headers: int = 128
    max_line_bytes: int = 4_096
    max_body_bytes: int = 65_535


DEFAULT_LIMITS = Limits()


@dataclass(slots=True, eq=False)
class _Message:
    headers: Headers
    body: bytes
    # Parsed header values keyed by their raw text, so a changed header is simply parsed anew.
    _parsed: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def address(self, name: str, value: str) -> Address:
        """`value` (one address of header `name`) parsed, once per message."""
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = parse_address(value, name)
        return found

    def via(self, value: str) -> Via:
        key = ("Via", value)
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = parse_via(value)
        return found

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        value = self.headers.get("CSeq") or ""
        number, _, method = value.strip().partition(" ")
        return parse_uint32(number, "CSeq"), method.strip()

    @property
    def vias(self) -> list[Via]:
        return [self.via(v) for v in self.headers.values("Via")]

    @property
    def top_via(self) -> Via:
        first = self.headers.get("Via")
        if first is None:
            raise ParseError("no Via")
        return self.via(split_top(first, ",")[0].strip(" \t"))

    @property
    def from_(self) -> Address:
        return self.address("From", self.headers.get("From") or "")

    @property
    def to(self) -> Address:
        return self.address("To", self.headers.get("To") or "")

    def _serialize(self, start_line: str) -> bytes:
        """The message on the wire; Content-Length always states the body's real length."""
        check_value("start line", start_line)
        lines = [start_line]
        for name, value in self.headers:
            if name != "Content-Length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode(ENCODING, ERRORS) + self.body


@dataclass(slots=True, eq=False)
class Request(_Message):
    method: str = "OPTIONS"
    uri: str = ""
    version: str = "SIP/2.0"

    def __bytes__(self) -> bytes:
        return self._serialize(f"{self.method} {self.uri} {self.version}")


@dataclass(slots=True, eq=False)
class Response(_Message):
    status: int = 200
    reason: str = "OK"
    version: str = "SIP/2.0"

    def __bytes__(self) -> bytes:
        return self._serialize(f"{self.version} {self.status} {self.reason}")


Message = Request | Response


def _start_line(line: str) -> tuple[str, ...]:
    if line.startswith(("SIP/", "sip/")):
        version, sp, rest = line.partition(" ")
        code, sp2, reason = rest.partition(" ")
        if not sp or not sp2:
            raise ParseError("status line must be 'SIP/2.0 SP code SP reason'")
        if len(code) != 3 or not code.isdigit() or not code.isascii() or not 100 <= int(code) <= 699:
            raise ParseError(f"status code {code[:20]!r} is not three digits from 100 to 699")
        _check_version(version)
        return version, code, reason
    parts = line.split(" ")
    if len(parts) != 3:
        raise ParseError("request line must be 'METHOD SP Request-URI SP SIP/2.0' with single spaces")
    method, uri, version = parts
    if not TOKEN.fullmatch(method):
        raise ParseError("request method is not a token")
    if not uri or "\t" in uri:
        raise ParseError("empty Request-URI")
    _check_version(version)
    return method, uri, version


def _check_version(version: str) -> None:
    m = _VERSION.fullmatch(version)
    if m is None:
        raise ParseError(f"bad SIP version {version[:20]!r}")
    if (m.group(1), m.group(2)) != ("2", "0"):
        raise ParseError(f"SIP version {version[:20]} not supported", status=505)


def _content_length(values: list[str], limits: Limits) -> int | None:
    if not values:
        return None
    distinct = {v.strip() for v in values}
    if len(distinct) > 1:
        raise ParseError("conflicting Content-Length values")
    text = distinct.pop()
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"Content-Length {text[:20]!r} is not a non-negative number")
    if len(text) > 10 or int(text) > limits.max_body_bytes:
        raise MessageTooLarge(f"Content-Length {text[:20]} is over the limit of {limits.max_body_bytes}")
    return int(text)


def parse_message(data: bytes, limits: Limits = DEFAULT_LIMITS, *, datagram: bool = True) -> Message:
    """Parse one whole message. `datagram`: the body may run to the end when Content-Length is absent."""
    if len(data) > limits.max_message_bytes:
        raise MessageTooLarge(f"message of {len(data)} bytes is over the limit of {limits.max_message_bytes}")
    start = 0
    while data.startswith(b"\r\n", start):  # keep-alive CRLFs before a message are ignored
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise ParseError("no empty line ends the headers")
    if end - start > limits.max_header_bytes:
        raise MessageTooLarge(f"headers over the limit of {limits.max_header_bytes} bytes")
    head = data[start:end].decode(ENCODING, ERRORS)
    rest = data[end + 4 :]

    crlfs = head.count("\r\n")
    if head.count("\r") != crlfs or head.count("\n") != crlfs:
        raise ParseError("bare CR or LF inside the headers")
    raw_lines = head.split("\r\n")
    if max(map(len, raw_lines)) > limits.max_line_bytes:
        raise MessageTooLarge(f"a line is over the limit of {limits.max_line_bytes} bytes")
    start_line = _start_line(raw_lines[0])

    items: list[tuple[str, str]] = []
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t"):  # folded: a continuation is one SP (RFC 3261 §7.3.1)
            if not items:
                raise ParseError("continuation line before any header")
            name, value = items[-1]
            more = line.strip(" \t")
            items[-1] = (name, f"{value} {more}" if value else more)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ParseError(f"header line without ':': {line[:60]!r}")
        name = name.rstrip(" \t")
        known = canonical_cached(name)  # a name in the cache was checked when it first came in
        if known is None:
            if not _HEADER_NAME.fullmatch(name):
                raise ParseError(f"bad header name {name[:60]!r}")
            known = canonical(name)
        items.append((known, value.strip(" \t")))
    if len(items) > limits.max_headers:  # the work so far is bounded by max_header_bytes
        raise MessageTooLarge(f"more than {limits.max_headers} headers")
    lengths = [value for name, value in items if name == "Content-Length"]

    length = _content_length(lengths, limits)
    if length is None:
        if not datagram:
            raise ParseError("Content-Length is required on stream transports")
        body = rest
    elif length > len(rest):
        raise ParseError(f"Content-Length {length} is more than the {len(rest)} bytes that follow")
    else:
        body = rest[:length]  # bytes after the body are not part of this message (§18.3)
    if len(body) > limits.max_body_bytes:
        raise MessageTooLarge(f"body over the limit of {limits.max_body_bytes} bytes")

    headers = Headers(items)
    if start_line[0].upper().startswith("SIP/"):
        version, code, reason = start_line
        return Response(headers=headers, body=body, status=int(code), reason=reason, version=version)
    method, uri, version = start_line
    return Request(headers=headers, body=body, method=method, uri=uri, version=version)
