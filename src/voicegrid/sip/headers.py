"""An ordered multi-map of SIP headers with canonical names; compact forms expanded on the way in."""

from collections.abc import Iterator

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


def canonical(name: str) -> str:
    """`cSeQ` -> `CSeq`, `v` -> `Via`, `x-custom-header` -> `X-Custom-Header`."""
    found = _cache.get(name)
    if found is not None:
        return found
    lower = name.lower()
    result = (
        COMPACT.get(lower) or _SPECIAL.get(lower) or "-".join(p[:1].upper() + p[1:] for p in lower.split("-"))
    )
    if len(_cache) < 4096:  # bounded: names come from the network
        _cache[name] = result
    return result


class Headers:
    """Headers in wire order. Names are canonical; values are unfolded and stripped of outer LWS."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = items if items is not None else []

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: str) -> bool:
        key = canonical(name)
        return any(n == key for n, _ in self._items)

    def get(self, name: str) -> str | None:
        key = canonical(name)
        for n, v in self._items:
            if n == key:
                return v
        return None

    def raw_values(self, name: str) -> list[str]:
        """Every header line's value for `name`, unsplit."""
        key = canonical(name)
        return [v for n, v in self._items if n == key]

    def values(self, name: str) -> list[str]:
        """All values of `name`: every header line, comma lists split (for list headers)."""
        key = canonical(name)
        raw = [v for n, v in self._items if n == key]
        if key not in LIST_HEADERS:
            return raw
        return [part.strip(" \t") for v in raw for part in split_top(v, ",")]

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every `name` header by one, at the place of the first (or at the end)."""
        key = canonical(name)
        for i, (n, _) in enumerate(self._items):
            if n == key:
                self._items[i] = (key, value)
                self._items = [item for j, item in enumerate(self._items) if j <= i or item[0] != key]
                return
        self._items.append((key, value))

    def remove(self, name: str) -> None:
        key = canonical(name)
        self._items = [item for item in self._items if item[0] != key]

    def copy(self) -> "Headers":
        return Headers(list(self._items))
