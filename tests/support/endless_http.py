"""An HTTP/1.1 server on loopback whose answer never ends: what a hostile endpoint does."""

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@dataclass
class Endless:
    """Reads a request (its body by Content-Length), answers `head`, then writes `piece(n)` for
    n = 0, 1, ... (as chunks when `head` says chunked) until the client goes or `most` pieces went,
    the test's own bound. `sent` counts the pieces written; `done` is set when it stops."""

    piece: Callable[[int], bytes]
    most: int
    head: bytes = CHUNKED
    sent: int = 0
    port: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", request)
        if length is not None:
            await reader.readexactly(int(length.group(1)))
        writer.write(self.head)
        chunked = b"chunked" in self.head.lower()
        try:
            while self.sent < self.most:
                data = self.piece(self.sent)
                writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                self.sent += 1
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()
        self.done.set()
