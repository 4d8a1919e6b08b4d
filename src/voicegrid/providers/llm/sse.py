"""Server-sent events (the WHATWG HTML "event stream" format), sans-I/O: bytes in, each event's data out.

Lines end in CR LF, LF or CR; `data:` fields of one event are joined with LF; a blank line ends
the event; comments (`:`) and other fields (`event`, `id`, `retry`) are skipped, since the chat
completion streams we read carry everything in `data`. Bounded: a line or an event over `max_bytes`
is refused, so a peer that never ends a line cannot make us hold its stream.
"""

from voicegrid.providers.errors import ProviderProtocolError

MAX_EVENT_BYTES = 1 << 20


class EventStream:
    def __init__(self, provider: str, max_bytes: int = MAX_EVENT_BYTES) -> None:
        self.provider = provider
        self.max_bytes = max_bytes
        self._buffer = b""
        self._data: list[bytes] = []
        self._size = 0
        self._after_cr = False  # the last block ended in CR: an LF that follows belongs to it

    def feed(self, block: bytes) -> list[bytes]:
        """The data of every event that `block` completes."""
        if not block:
            return []
        if self._after_cr and block.startswith(b"\n"):
            block = block[1:]
        self._after_cr = block.endswith(b"\r")
        data = self._buffer + block
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._buffer = lines.pop()  # the unfinished line
        if len(self._buffer) > self.max_bytes:
            raise ProviderProtocolError(self.provider, "an event stream line over the size cap")
        events = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                self._data, self._size = [], 0
                continue
            field, _, value = line.partition(b":")
            if field != b"data":
                continue
            value = value[1:] if value.startswith(b" ") else value
            self._size += len(value) + 1
            if self._size > self.max_bytes:
                raise ProviderProtocolError(self.provider, "an event over the size cap")
            self._data.append(value)
        return events

    def close(self) -> list[bytes]:
        """The last event, if the stream ended without its blank line."""
        if self._buffer:
            self.feed(b"\n")
        events = [b"\n".join(self._data)] if self._data else []
        self._data, self._size = [], 0
        return events
