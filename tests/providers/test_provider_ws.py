"""The provider clients' WebSocket connection (picows under them), against a websockets server on
loopback: messages whole, unread messages bounded, oversized ones refused, closes and redirects."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.http11 import Response

from voicegrid.core.egress import Destinations
from voicegrid.providers.errors import ProviderConnectError, ProviderError
from voicegrid.providers.ws import (
    MAX_FRAGMENTS,
    MAX_MESSAGE,
    MAX_QUEUE,
    MAX_UNREAD,
    ClientConnection,
    open_ws,
)

LOOPBACK = Destinations(allow_private=True)
Handler = Callable[[ServerConnection], Awaitable[None]]


async def started(handler: Handler, **kwargs: object) -> tuple[Server, str]:
    server = await serve(handler, "127.0.0.1", 0, max_size=None, compression=None, **kwargs)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://localhost:{port}/v1/listen?x=1"


@pytest.fixture
async def servers() -> AsyncIterator[list[Server]]:
    running: list[Server] = []
    yield running
    for server in running:
        server.close()
        await server.wait_closed()


async def connect(url: str) -> ClientConnection:
    return await open_ws("deepgram", url, {"Authorization": "Token k"}, 3.0, LOOPBACK)


async def test_text_and_binary_messages_arrive_whole_and_in_order_and_a_normal_close_ends_the_iteration(
    servers: list[Server],
) -> None:
    seen: list[object] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws.request.headers.get("Authorization") if ws.request else None)
        seen.append(ws.request.headers.get("Host") if ws.request else None)
        seen.append(await ws.recv())
        await ws.send("hello")
        await ws.send([b"frag", b"mented"])  # one binary message in three frames
        await ws.send(b"\x00" * 100_000)
        await ws.close()

    server, url = await started(handler)
    servers.append(server)
    conn = await connect(url)
    await conn.send(b"audio")
    got = [message async for message in conn]
    assert got == ["hello", b"fragmented", b"\x00" * 100_000]
    assert seen == ["Token k", f"localhost:{url.split(':')[2].split('/')[0]}", b"audio"]
    with pytest.raises(ConnectionClosedOK):
        await conn.send(b"more")


@pytest.mark.parametrize(
    "frames",
    [
        [b"x" * (1 << 20)] * (MAX_MESSAGE // (1 << 20) + 1),  # over the size cap
        [b"x"] * (MAX_FRAGMENTS + 10),  # small, in more frames than the cap: an object each
    ],
    ids=["size", "frames"],
)
async def test_a_message_over_a_cap_closes_the_connection_with_1009(
    servers: list[Server], frames: list[bytes]
) -> None:
    codes: list[int | None] = []
    closed = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.send(frames)
            await ws.wait_closed()
        finally:
            codes.append(ws.close_code)
            closed.set()

    server, url = await started(handler)
    servers.append(server)
    conn = await connect(url)
    with pytest.raises(ConnectionClosedError):
        await conn.recv()
    async with asyncio.timeout(5):
        await closed.wait()
    assert codes == [1009]


@pytest.mark.parametrize(
    ("count", "size"),
    [(4000, 4000), (40, 1 << 20)],  # many small messages: the count cap; 40 MiB: the byte cap
    ids=["count", "bytes"],
)
async def test_a_client_that_does_not_read_stops_reading_the_socket_and_loses_nothing(
    servers: list[Server], count: int, size: int
) -> None:
    sent = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal sent
        for i in range(count):
            await ws.send(f"{i:08d}" + "y" * size)
            sent = i + 1
        await ws.close()

    server, url = await started(handler)
    servers.append(server)
    conn = await connect(url)
    await asyncio.sleep(1.0)  # the server pushes as fast as the socket takes it
    assert conn._reading_paused
    assert len(conn._inbox) < MAX_QUEUE + 64  # what one read buffer held past the cap, no more
    assert conn._unread < MAX_UNREAD + 2 * (1 << 20)
    assert sent < count  # TCP pushed back on the sender
    got = [message async for message in conn]
    assert [int(str(m)[:8]) for m in got] == list(range(count))


async def test_a_refused_handshake_is_a_provider_error_of_its_status_and_a_redirect_is_not_followed(
    servers: list[Server],
) -> None:
    def refuse(status: int, headers: Headers) -> Callable[[ServerConnection, object], Response]:
        return lambda connection, request: Response(status, "no", headers, b"")

    async def never(ws: ServerConnection) -> None:
        raise AssertionError("no WebSocket may open")

    for status, kind in (
        (401, "ProviderAuthError"),
        (429, "ProviderRateLimited"),
        (503, "ProviderServerError"),
    ):
        server, url = await started(never, process_request=refuse(status, Headers()))
        servers.append(server)
        with pytest.raises(ProviderError) as caught:
            await connect(url)
        assert type(caught.value).__name__ == kind
    followed: list[str] = []
    target, target_url = await started(lambda ws: followed.append("reached") or ws.close())  # type: ignore[func-returns-value]
    servers.append(target)
    server, url = await started(never, process_request=refuse(302, Headers({"Location": target_url})))
    servers.append(server)
    with pytest.raises(ProviderError):
        await connect(url)
    assert followed == []


async def test_a_host_the_policy_refuses_is_never_connected_to() -> None:
    with pytest.raises(ProviderConnectError, match="not allowed"):
        await open_ws("deepgram", "ws://127.0.0.1:9/v1/listen", {}, 3.0, Destinations())


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/listen?x=1", {"Authorization": "Token k\r\nX-Injected: yes"}),
        ("/v1/listen?x=1", {"Authorization": "Token k\nX-Injected: yes"}),
        ("/v1/listen?x=1 HTTP/1.1\r\nX-Injected: yes", {"Authorization": "Token k"}),
        ("/v1/listen?x=1", {"Bad Name": "k"}),
    ],
)
async def test_a_key_or_endpoint_that_would_add_a_header_line_is_refused_before_any_connection(
    path: str, headers: dict[str, str]
) -> None:
    connections: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(await reader.read(4096))
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ProviderConnectError, match="bad endpoint or key"):
            await open_ws("deepgram", f"ws://127.0.0.1:{port}{path}", headers, 3.0, LOOPBACK)
        await asyncio.sleep(0.1)
    finally:
        server.close()
    assert connections == []  # picows would have written the lines as given
