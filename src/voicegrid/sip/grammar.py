"""RFC 3261 §25 lexical pieces: tokens, quoted strings, hosts, parameters, and top-level splitting."""

import re

from voicegrid.sip.errors import ParseError

TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"  # noqa: S105 - "token" is RFC 3261's word, not a credential
TOKEN = re.compile(f"[{TOKEN_CHARS}]+")
LWS = " \t"
_HOSTNAME = r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?"
_IPV4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
_IPV6_REF = r"\[[0-9A-Fa-f:.]+\]"
HOST = f"(?:{_IPV6_REF}|{_IPV4}|{_HOSTNAME})"
HOST_RE = re.compile(HOST)
# A parameter value: a token, a host (IPv6 reference included) or a quoted string (checked apart).
_PARAM_VALUE = re.compile(f"[{TOKEN_CHARS}:\\[\\]]+")
MAX_UINT32 = 2**32 - 1


def is_token(text: str) -> bool:
    return TOKEN.fullmatch(text) is not None


def quoted_end(text: str, start: int) -> int:
    """Index just past the quoted string opening at text[start] == '"'; ParseError if unterminated."""
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise ParseError("unterminated quoted string")


def unquote(text: str) -> str:
    """The content of a quoted string, quoted-pairs resolved."""
    inner = text[1:-1]
    if "\\" not in inner:
        return inner
    out = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(inner[i])
            i += 1
    return "".join(out)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_SPLITTERS = {
    sep: re.compile(r'"(?:[^"\\]|\\.)*"|<[^>]*>|(' + re.escape(sep) + r')|(")') for sep in (",", ";")
}


def split_top(value: str, sep: str) -> list[str]:
    """Split on `sep` (',' or ';') outside quoted strings and angle brackets, in one regex pass."""
    if '"' not in value and "<" not in value:
        return value.split(sep)
    parts = []
    start = 0
    for m in _SPLITTERS[sep].finditer(value):
        if m.group(1) is not None:
            parts.append(value[start : m.start()])
            start = m.end()
        elif m.group(2) is not None:
            raise ParseError("unterminated quoted string")
    parts.append(value[start:])
    return parts


Params = dict[str, str | None]


def parse_params(text: str, what: str) -> Params:
    """`;a=b ; c ;d="x y"` -> {'a': 'b', 'c': None, 'd': '"x y"'}; names lower-cased, LWS allowed."""
    params: Params = {}
    if not text.strip(LWS):
        return params
    if text.lstrip(LWS)[:1] != ";":
        raise ParseError(f"{what}: expected ';' before parameters")
    for raw in split_top(text.lstrip(LWS)[1:], ";"):
        name, eq, value = raw.partition("=")
        name = name.strip(LWS)
        if not is_token(name):
            raise ParseError(f"{what}: empty or malformed parameter {raw.strip()!r}")
        if eq:
            value = value.strip(LWS)
            if value.startswith('"'):
                if quoted_end(value, 0) != len(value):
                    raise ParseError(f"{what}: bad quoted value of parameter {name}")
            elif not _PARAM_VALUE.fullmatch(value):
                raise ParseError(f"{what}: bad value of parameter {name}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def parse_uint32(text: str, what: str) -> int:
    text = text.strip(LWS)
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"{what}: {text!r} is not a number")
    if len(text) > 10 or int(text) > MAX_UINT32:
        raise ParseError(f"{what}: {text} is above 2**32-1")
    return int(text)
