"""Message framing on stream transports (TCP, TLS): bytes in, whole messages out (RFC 3261 §18.3).

Fed any split of the stream: whole messages, single bytes, several messages at once. CRLF
keep-alives between messages (RFC 5626 §3.5.1) are consumed and counted, so the transport can
answer a double-CRLF ping with a single CRLF pong. A framing error means the stream cannot be
resynchronised: the connection must be closed.
"""

from voicegrid.sip.errors import MessageTooLarge, ParseError
from voicegrid.sip.message import DEFAULT_LIMITS, Limits, Message, parse_message

_CL_NAMES = (b"content-length", b"l")


def _declared_length(head: bytes) -> int:
    found: set[bytes] = set()
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip(b" \t").lower() in _CL_NAMES:
            found.add(value.strip(b" \t"))
    if not found:
        raise ParseError("Content-Length is required on stream transports")
    if len(found) > 1:
        raise ParseError("conflicting Content-Length values")
    text = found.pop()
    if not text.isdigit() or len(text) > 10:
        raise ParseError("Content-Length is not a non-negative number")
    return int(text)


class StreamFramer:
    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buffer = bytearray()
        self._scanned = 0  # where to resume looking for the end of the headers
        self.keepalives = 0
        self._crlfs = 0

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return every message now complete, in order. Raises ParseError on bad framing."""
        self._buffer += data
        out: list[Message] = []
        while True:
            while self._buffer.startswith(b"\r\n"):
                del self._buffer[:2]
                self._scanned = 0
                self._crlfs += 1
                if self._crlfs == 2:  # a double CRLF, however it was split, is one ping
                    self.keepalives += 1
                    self._crlfs = 0
            if bytes(self._buffer[:1]) not in (b"", b"\r"):
                self._crlfs = 0
            end = self._buffer.find(b"\r\n\r\n", max(0, self._scanned - 3))
            if end < 0:
                if len(self._buffer) > self.limits.max_header_bytes:
                    raise MessageTooLarge(f"no end of headers within {self.limits.max_header_bytes} bytes")
                self._scanned = len(self._buffer)
                return out
            if end > self.limits.max_header_bytes:
                raise MessageTooLarge(f"headers over the limit of {self.limits.max_header_bytes} bytes")
            length = _declared_length(bytes(self._buffer[:end]))
            if length > self.limits.max_body_bytes:
                raise MessageTooLarge(
                    f"Content-Length {length} is over the limit of {self.limits.max_body_bytes}"
                )
            total = end + 4 + length
            if len(self._buffer) < total:
                return out
            chunk = bytes(self._buffer[:total])
            del self._buffer[:total]
            self._scanned = 0
            out.append(parse_message(chunk, self.limits, datagram=False))

    @property
    def buffered(self) -> int:
        return len(self._buffer)
