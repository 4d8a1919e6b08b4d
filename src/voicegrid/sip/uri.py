"""SIP and SIPS URIs (RFC 3261 §19.1) parsed in full; any other scheme kept as an opaque absolute URI."""

import re
from dataclasses import dataclass, field

from voicegrid.sip.errors import ParseError
from voicegrid.sip.grammar import HOST, Params, format_params, parse_params

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_ESCAPED_OK = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a '%' not followed by two hex digits
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_PASSWORD = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]*")
_HOSTPORT = re.compile(f"({HOST})(?::([0-9]{{1,5}}))?")
_URI_PARAMS_CHARS = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%;=]*")
_HEADERS_CHARS = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/?:+$%&=]*")
_OPAQUE = re.compile(r"[^\s<>\"]+")
# The whole of a SIP URI in one match; the parts are then checked no further than the slow path does.
_SIP_URI = re.compile(
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,;?/%]+)(?::([A-Za-z0-9\-_.!~*'()&=+$,%]*))?@)?"
    f"({HOST})"
    r"(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$%=]*)*)"
    r"(?:\?([A-Za-z0-9\-_.!~*'()\[\]/?:+$%&=]*))?"
)


@dataclass(slots=True)
class SipUri:
    scheme: str  # "sip" or "sips"
    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = field(default_factory=dict)
    headers: str | None = None  # the raw `?h=v&...` part, escaped as it came

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{format_params(self.params)}{headers}"

    @property
    def host_port(self) -> tuple[str, int]:
        """Where to send to: the host without IPv6 brackets, and the port (5060, or 5061 for sips)."""
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        return host, self.port or (5061 if self.scheme == "sips" else 5060)


@dataclass(slots=True)
class AbsoluteUri:
    """A URI of another scheme (tel:, urn:, http:, ...), checked only for its scheme and characters."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | AbsoluteUri


def _check_escapes(text: str, what: str) -> None:
    if "%" in text and _ESCAPED_OK.search(text):
        raise ParseError(f"{what}: '%' not followed by two hex digits")


def parse_uri(text: str) -> Uri:
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        raise ParseError(f"not a URI: {text[:80]!r}")
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        if not _OPAQUE.fullmatch(rest):
            raise ParseError(f"malformed {scheme} URI")
        return AbsoluteUri(scheme, rest)
    m = _SIP_URI.fullmatch(rest)
    if m is not None and "%" not in rest:
        user, password, host, port_text, params_text, headers = m.groups()
        port = int(port_text) if port_text else None
        if port is None or port <= 65535:
            params = parse_params(params_text, "SIP URI") if params_text else {}
            return SipUri(scheme, host, user, password, port, params, headers)
    return _parse_sip_slowly(scheme, rest)


def _parse_sip_slowly(scheme: str, rest: str) -> SipUri:
    """The same grammar step by step, so that a bad URI gets an error that says what is wrong."""
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, pcolon, pw = userinfo.partition(":")
        if not _USER.fullmatch(user):
            raise ParseError("SIP URI: bad user part")
        _check_escapes(user, "SIP URI user")
        if pcolon:
            if not _PASSWORD.fullmatch(pw):
                raise ParseError("SIP URI: bad password part")
            password = pw
    hostport = _HOSTPORT.match(rest)
    if hostport is None:
        raise ParseError("SIP URI: bad host")
    host = hostport.group(1)
    port = int(hostport.group(2)) if hostport.group(2) else None
    if port is not None and port > 65535:
        raise ParseError("SIP URI: port above 65535")
    tail = rest[hostport.end() :]
    params_text, qmark, headers = tail.partition("?")
    if params_text and (params_text[0] != ";" or not _URI_PARAMS_CHARS.fullmatch(params_text)):
        raise ParseError("SIP URI: bad parameters")
    params = parse_params(params_text, "SIP URI") if params_text else {}
    if qmark and not _HEADERS_CHARS.fullmatch(headers):
        raise ParseError("SIP URI: bad headers part")
    _check_escapes(tail, "SIP URI")
    return SipUri(scheme, host, user, password, port, params, headers if qmark else None)
