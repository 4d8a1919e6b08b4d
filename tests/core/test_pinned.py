"""The pinned HTTP clients' connection pools: the limits each is made with are the ones it keeps."""

import asyncio
from dataclasses import dataclass

from voicegrid.core.egress import PERMISSIVE
from voicegrid.core.pinned import pinned_client
from voicegrid.pipeline.tools import CALL_LIMITS
from voicegrid.providers.llm.openai import shared_client


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


async def test_a_tool_client_holds_at_most_its_four_connections_to_a_tenants_endpoint() -> None:
    counting = Counting()
    server = await counting.start()
    try:
        async with pinned_client(PERMISSIVE, limits=CALL_LIMITS, timeout=10.0) as client:
            replies = await asyncio.gather(
                *(client.get(f"http://127.0.0.1:{counting.port}/t{n}") for n in range(10))
            )
    finally:
        server.close()
    assert [r.status_code for r in replies] == [200] * 10  # the rest waited for a connection
    assert counting.most_at_once == CALL_LIMITS.max_connections == 4


async def test_the_llm_client_keeps_alive_every_connection_a_burst_of_turns_opened() -> None:
    counting = Counting()
    server = await counting.start()
    client = shared_client(10.0, 5.0, PERMISSIVE)
    url = f"http://127.0.0.1:{counting.port}/v1/chat/completions"
    try:
        for _ in range(2):  # forty turns at once, twice: the second finds forty connections kept
            replies = await asyncio.gather(*(client.get(url) for _ in range(40)))
            assert all(r.status_code == 200 for r in replies)
    finally:
        await client.aclose()
        server.close()
    assert counting.opened == 40  # httpx's default pool would have kept 20 and opened 20 more
