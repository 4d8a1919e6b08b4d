"""An HTTP/1.1 server on loopback that counts the connections its clients open."""

import asyncio
from dataclasses import dataclass


@dataclass
class Counting:
    """An HTTP/1.1 server on loopback that answers each request after `hold_s`, keeping connections
    open, and counts the connections it was opened and how many were open at once."""

    hold_s: float = 0.2
    opened: int = 0
    open_now: int = 0
    most_at_once: int = 0
    port: int = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.open_now += 1
        self.most_at_once = max(self.most_at_once, self.open_now)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # GETs: no body
                await asyncio.sleep(self.hold_s)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()
