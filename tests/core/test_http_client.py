"""Our HTTP/1.1 client against real servers on loopback: its pool, caps, timeouts and checks."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.support.counting_http import Counting
from voicegrid.core.egress import PERMISSIVE, STRICT, DestinationRefused
from voicegrid.core.errors import HttpClosed, HttpConnectError, HttpRequestRefused, HttpTimeout
from voicegrid.core.http_client import HttpClient
from voicegrid.providers.llm.openai import shared_client
from voicegrid.testing.ports import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def client(**kwargs: float) -> HttpClient:
    return HttpClient(PERMISSIVE, connect_timeout_s=2.0, read_timeout_s=kwargs.pop("read_s", 2.0), **kwargs)  # type: ignore[arg-type]


async def get(http: HttpClient, url: str) -> tuple[int, bytes]:
    response = await http.stream("GET", url, {})
    try:
        return response.status, b"".join([block async for block in response])
    finally:
        await response.aclose()


async def serving(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/x"


async def test_the_llm_client_keeps_alive_every_connection_a_burst_of_turns_opened() -> None:
    counting = Counting()
    server = await counting.start()
    http = shared_client(10.0, 5.0, PERMISSIVE)
    url = f"http://127.0.0.1:{counting.port}/v1/chat/completions"
    try:
        for _ in range(2):  # forty turns at once, twice: the second finds forty connections kept
            replies = await asyncio.gather(*(get(http, url) for _ in range(40)))
            assert replies == [(200, b"ok")] * 40
    finally:
        await http.aclose()
        server.close()
    assert counting.opened == 40


async def test_at_most_max_connections_are_open_at_once_and_the_rest_wait_their_turn() -> None:
    counting = Counting(hold_s=0.05)
    server = await counting.start()
    http = client(max_connections=3)
    try:
        replies = await asyncio.gather(*(get(http, f"http://127.0.0.1:{counting.port}/") for _ in range(12)))
    finally:
        await http.aclose()
        server.close()
    assert replies == [(200, b"ok")] * 12
    assert counting.most_at_once == 3


async def test_an_idle_connection_is_closed_after_keepalive_though_its_destination_is_not_called_again() -> (
    None
):
    counting = Counting(hold_s=0.0)
    server = await counting.start()
    http = client(keepalive_s=0.2)
    try:
        assert await get(http, f"http://127.0.0.1:{counting.port}/") == (200, b"ok")
        assert counting.open_now == 1  # kept
        await asyncio.sleep(1.0)  # five times keepalive_s: swept by then, whatever the timer's rounding
        assert counting.open_now == 0
    finally:
        await http.aclose()
        server.close()
    assert counting.opened == 1


async def test_a_response_closed_before_its_end_closes_its_connection_and_the_next_request_opens_one() -> (
    None
):
    opened = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal opened
        opened += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")  # half of it, then waits
                await writer.drain()
                await asyncio.sleep(0.2)
                writer.write(b"def")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server, url = await serving(handler)
    http = client()
    try:
        response = await http.stream("GET", url, {})
        assert await anext(response) == b"abc"
        await response.aclose()
        assert await get(http, url) == (200, b"abcdef")
        assert await get(http, url) == (200, b"abcdef")  # read to its end: kept
    finally:
        await http.aclose()
        server.close()
    assert opened == 2


async def test_a_kept_connection_the_server_dropped_as_the_request_went_is_retried_once_on_a_new_one() -> (
    None
):
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the second request on this connection: dropped unanswered
        writer.close()

    server, url = await serving(handler)
    http = client()
    try:
        assert await get(http, url) == (200, b"ok")
        assert await get(http, url) == (200, b"ok")  # on a second connection, the client's own retry
    finally:
        await http.aclose()
        server.close()
    assert served == 2


async def test_a_new_connection_dropped_before_the_answer_is_an_error_not_a_retry() -> None:
    attempts = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server, url = await serving(handler)
    http = client()
    try:
        with pytest.raises(HttpClosed):
            await get(http, url)
    finally:
        await http.aclose()
        server.close()
    assert attempts == 1  # a POST the server may have acted on is not sent twice


async def test_a_server_that_never_answers_is_a_timeout_after_the_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(5)

    server, url = await serving(handler)
    http = client(read_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(HttpTimeout):
            await get(http, url)
    finally:
        await http.aclose()
        server.close()
    assert time.monotonic() - started < 3  # a guard against a hang, not a measure


async def test_a_closed_port_is_a_connect_error() -> None:
    http = client()
    with pytest.raises(HttpConnectError):
        await get(http, f"http://127.0.0.1:{free_port()}/")


async def test_a_header_that_would_make_another_line_is_refused_before_any_connection() -> None:
    counting = Counting()
    server = await counting.start()
    http = client()
    try:
        with pytest.raises(HttpRequestRefused):
            await http.stream(
                "POST", f"http://127.0.0.1:{counting.port}/", {"Authorization": "k\r\nX-Evil: 1"}
            )
        with pytest.raises(HttpRequestRefused):
            await http.stream("POST", f"http://127.0.0.1:{counting.port}/a b", {})
    finally:
        await http.aclose()
        server.close()
    assert counting.opened == 0


async def test_a_destination_the_policy_refuses_is_never_connected_to() -> None:
    counting = Counting()
    server = await counting.start()
    http = HttpClient(STRICT, connect_timeout_s=2.0, read_timeout_s=2.0)
    try:
        with pytest.raises(DestinationRefused):
            await http.stream("GET", f"http://127.0.0.1:{counting.port}/", {})
    finally:
        await http.aclose()
        server.close()
    assert counting.opened == 0


async def test_a_large_body_comes_whole_through_the_paused_and_resumed_socket() -> None:
    blob = bytes(range(256)) * 8192  # 2 MiB: past the unread bytes' high-water mark

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(blob) + blob)
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server, url = await serving(handler)
    http = client()
    try:
        response = await http.stream("GET", url, {})
        await asyncio.sleep(0.3)  # the server's bytes pile up unread
        got = b"".join([block async for block in response])
        await response.aclose()
    finally:
        await http.aclose()
        server.close()
    assert got == blob
