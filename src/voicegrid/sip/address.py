"""name-addr and addr-spec values (From, To, Contact, Route, Record-Route, Refer-To)."""

from dataclasses import dataclass, field

from voicegrid.sip.errors import ParseError
from voicegrid.sip.grammar import (
    LWS,
    Params,
    format_params,
    is_token,
    parse_params,
    quote,
    quoted_end,
    unquote,
)
from voicegrid.sip.uri import SipUri, Uri, parse_uri


@dataclass(slots=True)
class Address:
    uri: Uri
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        name = f"{quote(self.display_name)} " if self.display_name else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"


def parse_address(value: str, what: str) -> Address:
    """Parse one address; an addr-spec's `;params` belong to the header, never to its URI."""
    v = value.strip(LWS)
    if not v:
        raise ParseError(f"{what}: empty value")
    display: str | None = None
    if v[0] == '"':
        end = quoted_end(v, 0)
        display = unquote(v[:end])
        rest = v[end:].lstrip(LWS)
        if not rest.startswith("<"):
            raise ParseError(f"{what}: expected '<' after the display name")
        return _bracketed(rest, display, what)
    lt = v.find("<")
    if lt >= 0:
        words = v[:lt].split()
        if not all(is_token(w) for w in words):
            raise ParseError(f"{what}: display name must be tokens or a quoted string")
        return _bracketed(v[lt:], " ".join(words) or None, what)
    uri_text, semi, params_text = v.partition(";")
    uri_text = uri_text.rstrip(LWS)  # LWS may come before the ';' of a header parameter
    if any(c in uri_text for c in LWS):
        raise ParseError(f"{what}: white space inside the URI")
    uri = parse_uri(uri_text)
    if isinstance(uri, SipUri) and uri.headers is not None:
        raise ParseError(f"{what}: a URI with headers must be enclosed in '<>'")
    return Address(uri, None, parse_params(semi + params_text, what))


def _bracketed(text: str, display: str | None, what: str) -> Address:
    gt = text.find(">")
    if gt < 0:
        raise ParseError(f"{what}: '<' without '>'")
    inner = text[1:gt]
    if not inner or inner[0] in LWS or inner[-1] in LWS or " " in inner or "\t" in inner:
        raise ParseError(f"{what}: white space inside '<>'")
    return Address(parse_uri(inner), display, parse_params(text[gt + 1 :], what))
