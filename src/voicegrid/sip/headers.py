"""An ordered multi-map of SIP headers with canonical names; compact forms expanded on the way in."""

import re
from collections.abc import Iterator

from voicegrid.sip.errors import UnsafeValue
from voicegrid.sip.grammar import split_top

COMPACT = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_SPECIAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}
# Headers whose values are comma-separated lists (RFC 3261 §7.3.1); others may contain bare commas.
LIST_HEADERS = frozenset(
    {
        "Via",
        "Contact",
        "Route",
        "Record-Route",
        "Allow",
        "Supported",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Content-Encoding",
        "Allow-Events",
        "Path",
        "Service-Route",
        "Warning",
    }
)
_cache: dict[str, str] = {}
_NAME = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def canonical(name: str) -> str:
    """`cSeQ` -> `CSeq`, `v` -> `Via`, `x-custom-header` -> `X-Custom-Header`."""
    found = _cache.get(name)
    if found is not None:
        return found
    lower = name.lower()
    result = (
        COMPACT.get(lower) or _SPECIAL.get(lower) or "-".join(p[:1].upper() + p[1:] for p in lower.split("-"))
    )
    # Bounded (names come from the network); only valid names, since the parser trusts cached ones.
    if len(_cache) < 4096 and _NAME.fullmatch(name):
        _cache[name] = result
    return result


canonical_cached = _cache.get  # the hot path's shortcut: a dict lookup, no call into canonical()
_UNSAFE = re.compile(r"[\r\n\x00]")


def check_value(name: str, value: str) -> str:
    """The one check every value we write passes: no CR, LF or NUL, so no text we put in a message
    (a caller ID, a display name, a transfer target) can end its line and start another header."""
    if _UNSAFE.search(value):
        raise UnsafeValue(f"{name} carries CR, LF or NUL: {value[:60]!r}")
    return value


class Headers:
    """Headers in wire order. Names are canonical; values are unfolded and stripped of outer LWS."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = items if items is not None else []
        self._index: dict[str, list[str]] | None = None  # name -> values, built on first lookup

    def _lookup(self, name: str) -> list[str]:
        index = self._index
        if index is None:
            index = {}
            for n, v in self._items:
                found = index.get(n)
                if found is None:
                    index[n] = [v]
                else:
                    found.append(v)
            self._index = index
        return index.get(_cache.get(name) or canonical(name), [])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: str) -> bool:
        return bool(self._lookup(name))

    def get(self, name: str) -> str | None:
        found = self._lookup(name)
        return found[0] if found else None

    def raw_values(self, name: str) -> list[str]:
        """Every header line's value for `name`, unsplit."""
        return list(self._lookup(name))

    def values(self, name: str) -> list[str]:
        """All values of `name`: every header line, comma lists split (for list headers)."""
        raw = self._lookup(name)
        if canonical(name) not in LIST_HEADERS:
            return list(raw)
        return [part.strip(" \t") for v in raw for part in split_top(v, ",")]

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical(name), check_value(name, value)))
        self._index = None

    def echo(self, name: str, value: str) -> None:
        """Add a value taken from a message we parsed, as §8.2.6 asks a response to (From, To, Via):
        it cannot hold CR or LF, and may hold NUL inside a quoted string (RFC 4475 `intmeth`)."""
        if "\r" in value or "\n" in value:
            raise UnsafeValue(f"{name} carries CR or LF: {value[:60]!r}")
        self._items.append((canonical(name), value))
        self._index = None

    def prepend(self, name: str, value: str) -> None:
        """Put a header first (a new top Via)."""
        self._items.insert(0, (canonical(name), check_value(name, value)))
        self._index = None

    def set(self, name: str, value: str) -> None:
        """Replace every `name` header by one, at the place of the first (or at the end)."""
        key = canonical(name)
        check_value(name, value)
        self._index = None
        for i, (n, _) in enumerate(self._items):
            if n == key:
                self._items[i] = (key, value)
                self._items = [item for j, item in enumerate(self._items) if j <= i or item[0] != key]
                return
        self._items.append((key, value))

    def remove(self, name: str) -> None:
        key = canonical(name)
        self._items = [item for item in self._items if item[0] != key]
        self._index = None

    def copy(self) -> "Headers":
        return Headers(list(self._items))
