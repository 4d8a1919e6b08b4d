"""HTTP/1.1 for our own requests (RFC 9112), sans-I/O: a request's bytes out, a response's events in.

`check_request` is the one check of this boundary, for our HTTP requests (`request_bytes`) and the
provider clients' WebSocket handshakes (`providers.ws.open_ws`): a tenant's endpoint and API key
reach the request line and header lines, so a target or a header with a control character, a space
in the target or a non-token header name is refused (`HttpRequestRefused`), never written.

`ResponseParser` is fed what the socket gives and returns, in order, the response's `Head`, its body's
pieces (`bytes`) and `END`. The body is framed as RFC 9112 section 6.3 says: none for 1xx, 204 and
304 (and a HEAD), else chunked when Transfer-Encoding ends in chunked, else Content-Length, else to
the connection's close. Interim 1xx heads are skipped. Bounded: the head and each trailer section at
`max_head` bytes and `max_headers` fields, the two in at most `MAX_HEAD_READS` reads (what is
buffered is searched again at each read: one-byte reads of a 64 KiB head cost a second of CPU),
a chunk-size line at `MAX_CHUNK_LINE`; what breaks the grammar or a bound raises `HttpProtocolError`, and the
connection is not used again.
"""

import re
from dataclasses import dataclass

from voicegrid.core.errors import HttpClosed, HttpProtocolError, HttpRequestRefused

MAX_HEAD = 64 * 1024
MAX_HEADERS = 128
MAX_CHUNK_LINE = 1024
MAX_INTERIM = 8  # 1xx heads before the final one
MAX_HEAD_READS = 256  # reads while a head or trailer section is unfinished (servers send it in one or two)

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(r"/[!-~]*")  # origin-form: visible ASCII, no space, no control
_STATUS = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: tuple[tuple[str, str], ...]  # names in lower case, in the order they came

    def get(self, name: str) -> str | None:
        """The first field of that (lower-case) name."""
        return next((value for key, value in self.headers if key == name), None)


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END = _End()
Event = Head | bytes | _End


def request_bytes(method: str, target: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """A request's bytes: `target` in origin-form (path and query), Host, Content-Length, `headers`."""
    check_request(target, headers)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise HttpRequestRefused("a header or host that is not Latin-1 text") from None
    return head + body


def check_request(target: str, headers: dict[str, str]) -> None:
    """The one check of a request line's target and of header fields we are given (an HTTP request's
    or a WebSocket handshake's): HttpRequestRefused for a target with a space, a control or a
    non-ASCII character, a header name that is not a token or is one we set ourselves, and a value
    with CR, LF or NUL or that is not Latin-1 text."""
    if not _TARGET.fullmatch(target):
        raise HttpRequestRefused("a request target with a space, a control or a non-ASCII character")
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name.encode("latin-1", "replace")) or name.lower() in _OURS:
            raise HttpRequestRefused(f"a header name we do not send: {name[:40]!r}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise HttpRequestRefused(f"a control character in the value of {name}")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise HttpRequestRefused(f"a value of {name} that is not Latin-1 text") from None


_OURS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
}  # set by us, or the handshake


class ResponseParser:
    """One response on a connection. `keep_alive` once `END` came: whether the connection may carry
    the next request."""

    def __init__(self, head_request: bool = False, max_head: int = MAX_HEAD, max_headers: int = MAX_HEADERS):
        self.head_request = head_request
        self.max_head = max_head
        self.max_headers = max_headers
        self.keep_alive = False
        self.done = False
        self._buffer = b""
        self._state = "head"  # head, length, chunk-size, chunk-data, chunk-end, trailers, close, done
        self._left = 0  # body bytes (length) or chunk bytes (chunk-data) still to come
        self._interim = 0
        self._head_reads = 0
        self._reusable = True  # HTTP/1.1, no Connection: close, framing we trust: a next request may follow

    def feed(self, data: bytes) -> list[Event]:
        """The events `data` completes."""
        if self.done:
            if data:
                self.keep_alive = False  # bytes after the response: not a connection to reuse
            return []
        self._buffer += data
        if self._state in ("head", "trailers") and self._buffer:
            self._head_reads += 1
            if self._head_reads > MAX_HEAD_READS:
                raise HttpProtocolError(f"a head or trailer section in more than {MAX_HEAD_READS} reads")
        events: list[Event] = []
        while not self.done and self._step(events):
            pass
        return events

    def eof(self) -> list[Event]:
        """The peer closed: `END` for a body read to the close, else HttpClosed (cut short)."""
        if self.done:
            return []
        if self._state == "close":
            events: list[Event] = [self._buffer] if self._buffer else []
            self._buffer, self.done, self.keep_alive = b"", True, False
            return [*events, END]
        raise HttpClosed(f"the connection closed in the response's {self._state}")

    # ---- the states ------------------------------------------------------------------------------
    def _step(self, events: list[Event]) -> bool:
        """Take what the buffer holds for the current state; False when it needs more bytes."""
        state = self._state
        if state == "head":
            return self._head(events)
        if state == "length" or state == "close":
            if not self._buffer:
                return False
            piece = self._buffer if state == "close" else self._buffer[: self._left]
            self._buffer = self._buffer[len(piece) :]
            events.append(piece)
            if state == "length":
                self._left -= len(piece)
                if self._left == 0:
                    self._finish(events)
            return state == "length" and not self.done
        if state == "chunk-size":
            line = self._line(MAX_CHUNK_LINE, "a chunk-size line")
            if line is None:
                return False
            size = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size):
                raise HttpProtocolError("a chunk size that is not hexadecimal")
            self._left = int(size, 16)
            self._state = "chunk-data" if self._left else "trailers"
            return True
        if state == "chunk-data":
            if not self._buffer:
                return False
            piece, self._buffer = self._buffer[: self._left], self._buffer[self._left :]
            events.append(piece)
            self._left -= len(piece)
            if self._left == 0:
                self._state = "chunk-end"
            return True
        if state == "chunk-end":
            if len(self._buffer) < 2:
                return False
            if self._buffer[:2] != b"\r\n":
                raise HttpProtocolError("a chunk not followed by CR LF")
            self._buffer, self._state = self._buffer[2:], "chunk-size"
            return True
        # trailers: fields up to an empty line, bounded like a head, then dropped
        end = self._buffer.find(b"\r\n\r\n") if not self._buffer.startswith(b"\r\n") else -2
        if end == -1:
            if len(self._buffer) > self.max_head:
                raise HttpProtocolError("a trailer section over the size cap")
            return False
        self._buffer = self._buffer[end + 4 :]
        self._finish(events)
        return False

    def _line(self, cap: int, what: str) -> bytes | None:
        at = self._buffer.find(b"\r\n", 0, cap + 2)
        if at == -1:
            if len(self._buffer) > cap:
                raise HttpProtocolError(f"{what} over {cap} bytes")
            return None
        line, self._buffer = self._buffer[:at], self._buffer[at + 2 :]
        return line

    def _head(self, events: list[Event]) -> bool:
        end = self._buffer.find(b"\r\n\r\n", 0, self.max_head + 4)
        if end == -1:
            if len(self._buffer) > self.max_head:
                raise HttpProtocolError("a response head over the size cap")
            return False
        lines = self._buffer[:end].split(b"\r\n")
        self._buffer = self._buffer[end + 4 :]
        status = _STATUS.fullmatch(lines[0])
        if status is None:
            raise HttpProtocolError("not an HTTP/1.x status line")
        if len(lines) - 1 > self.max_headers:
            raise HttpProtocolError("more header fields than the cap")
        fields = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):  # obs-fold and a space before the colon too
                raise HttpProtocolError("a malformed header field")
            value = value.strip(b" \t")
            if not _FIELD_VALUE.fullmatch(value):
                raise HttpProtocolError("a control character in a header field")
            fields.append((name.decode("ascii").lower(), value.decode("latin-1")))
        code = int(status.group(2))
        if 100 <= code < 200:  # interim (101 would switch protocols, which we never ask for)
            self._interim += 1
            if code == 101 or self._interim > MAX_INTERIM:
                raise HttpProtocolError(f"an unexpected interim response {code}")
            return True
        head = Head(code, tuple(fields))
        self._reusable = status.group(1) == b"1"
        events.append(head)
        self._frame(head, events)
        return not self.done

    def _frame(self, head: Head, events: list[Event]) -> None:
        codings = [v for k, v in head.headers if k == "transfer-encoding"]
        lengths = {v for k, v in head.headers if k == "content-length"}
        connection = ",".join(v for k, v in head.headers if k == "connection").lower()
        if "close" in {token.strip() for token in connection.split(",")}:
            self._reusable = False
        if self.head_request or head.status in (204, 304):
            self._finish(events)
        elif codings:
            last = ",".join(codings).rsplit(",", 1)[-1].strip().lower()
            self._state = "chunk-size" if last == "chunked" else "close"
            self._reusable = self._reusable and not lengths and last == "chunked"
        elif lengths:
            values = {v.strip() for value in lengths for v in value.split(",")}
            if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values)).encode()):
                raise HttpProtocolError("a Content-Length that is not one number")
            self._left = int(values.pop())
            self._state = "length"
            if self._left == 0:
                self._finish(events)
        else:
            self._state = "close"

    def _finish(self, events: list[Event]) -> None:
        self.done, self._state = True, "done"
        self.keep_alive = self._reusable and not self._buffer
        events.append(END)
