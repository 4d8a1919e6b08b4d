"""Our own HTTP/1.1 client: the node's one HTTP stack out, for the requests every turn makes (the
LLM's streamed answer), tenants' webhooks and tools, Aura's REST fallback and recordings kept by
another node.

Why not httpx here: httpcore's pool, at every request and every response's end, walks all its
connections and asks each whether it has expired, which polls its socket (a system call and a few
layers of anyio per connection). A node's LLM pool keeps hundreds of connections, so a turn paid
milliseconds of CPU before its request left (`bench/llm_client.py`). Here the pool is a stack of idle
connections per destination: taking one and giving it back cost the same at any size.

Each request's URL passes `Destinations.resolve` and goes to the address it checked, with the name
kept for Host and for TLS (SNI and the certificate); no redirect is followed, and no proxy from the
environment is used (it would connect on its own lookup). Caps and timeouts: `max_connections`
open at once (a request waits `read_timeout_s` for one); at most `max_idle` kept per destination,
each for `keepalive_s` (a timer closes those past it); `connect_timeout_s` for the lookup and the
TCP and TLS handshakes; `read_timeout_s` for each wait for the response's next bytes; a response's
unread bytes beyond `HIGH_WATER` stop the socket's reading until they are read; `request` reads at
most `max_body` bytes of an answer (a destination a tenant controls cannot make us hold more), and
the caller puts a deadline on the whole exchange.
"""

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from voicegrid.core.egress import Destinations, Target
from voicegrid.core.errors import HttpClosed, HttpConnectError, HttpError, HttpTimeout
from voicegrid.core.http1 import END, Event, Head, ResponseParser, request_bytes
from voicegrid.core.tls import tls_context

HIGH_WATER, LOW_WATER = 256 * 1024, 64 * 1024
_Key = tuple[str, str, int, str]  # scheme, host, port, address


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: the parser of the response under way, and its events."""

    def __init__(self, key: _Key, on_closed: Callable[["_Connection"], None]) -> None:
        self.key = key
        self._on_closed: Callable[[_Connection], None] | None = on_closed
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.events: deque[Event] = deque()
        self.error: HttpError | None = None
        self.closed = False
        self.received = 0  # bytes of the current response
        self.idle_since = 0.0
        self._unread = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # ---- asyncio's side --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of it

    def data_received(self, data: bytes) -> None:
        if self.parser is None:  # bytes while idle: the server broke the exchange; not used again
            self.close()
            return
        self.received += len(data)
        try:
            events = self.parser.feed(data)
        except HttpError as exc:
            self.error = exc
            self.close()
            return
        for event in events:
            if isinstance(event, bytes):
                self._unread += len(event)
        self.events.extend(events)
        if self._unread > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost ends the response

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone()
        if self.parser is not None and self.error is None:
            try:
                self.events.extend(self.parser.eof())
            except HttpError as error:
                self.error = error
        self.transport = None
        self._wake()

    # ---- ours ------------------------------------------------------------------------------------
    def close(self) -> None:
        self._gone()
        if self.transport is not None:
            self.transport.close()

    def _gone(self) -> None:
        self.closed = True
        on_closed, self._on_closed = self._on_closed, None
        if on_closed is not None:  # once: the pool's count of open connections
            on_closed(self)

    def begin(self, parser: ResponseParser, request: bytes) -> None:
        assert self.transport is not None
        self.parser, self.received, self.error = parser, 0, None
        self.events.clear()
        self._unread = 0
        self.transport.write(request)

    async def next_event(self, timeout_s: float) -> Event:
        while not self.events:
            if self.error is not None:
                raise self.error
            if self.closed:
                raise HttpClosed("the connection closed before the response was whole")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            timer = asyncio.get_running_loop().call_later(timeout_s, _time_out, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        event = self.events.popleft()
        if isinstance(event, bytes):
            self._unread -= len(event)
            if self._paused and self._unread < LOW_WATER and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
        return event

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _time_out(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_exception(HttpTimeout("no bytes of the response within the read timeout"))


class HttpResponse:
    """A response whose body is read as it comes (`async for block in response`), then `aclose()`d,
    always: one read to its end gives its connection back to the pool, one closed before closes it."""

    def __init__(self, client: "HttpClient", connection: _Connection, head: Head) -> None:
        self.status = head.status
        self.head = head
        self._client: HttpClient | None = client
        self._connection: _Connection | None = connection

    def __aiter__(self) -> "HttpResponse":
        return self

    async def __anext__(self) -> bytes:
        connection, client = self._connection, self._client
        if connection is None or client is None:
            raise StopAsyncIteration
        try:
            event = await connection.next_event(client.read_timeout_s)
        except BaseException:
            await self.aclose()
            raise
        if event is END:
            self._connection = self._client = None
            client.give_back(connection)
            raise StopAsyncIteration
        assert isinstance(event, bytes)
        return event

    async def aclose(self) -> None:
        connection, self._connection, self._client = self._connection, None, None
        if connection is not None:
            connection.close()


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    head: Head
    body: bytes  # at most the `max_body` asked for
    truncated: bool  # more came: the rest was not read, and its connection was closed


class HttpClient:
    def __init__(
        self,
        destinations: Destinations,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_connections: int = 1000,
        max_idle: int = 256,
        keepalive_s: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.destinations = destinations
        self._tls = tls  # None: the process's context (certifi's CAs)
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.max_idle = max_idle
        self.keepalive_s = keepalive_s
        self.max_connections = max_connections
        self._open_count = 0  # connections open or opening, idle ones included
        self._waiters: deque[asyncio.Future[None]] = deque()  # requests waiting for a connection
        self._idle: dict[_Key, deque[_Connection]] = {}
        self._live: set[_Connection] = set()  # every open connection, idle or not, for aclose
        self._sweep: asyncio.TimerHandle | None = None  # closes idle connections past keepalive_s

    async def stream(self, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> HttpResponse:
        """Send a request; the response once its head has come (its body is then read from it)."""
        async with asyncio.timeout(self.connect_timeout_s):
            target = await self.destinations.resolve(url)  # DestinationError: not a URL we call
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = request_bytes(method, path, target.authority, headers, body)
        key = (target.scheme, target.host, target.port, target.address)
        for attempt in (1, 2):
            connection, reused = await self._acquire(target, key)
            connection.begin(ResponseParser(head_request=method == "HEAD"), request)
            try:
                event = await connection.next_event(self.read_timeout_s)
            except HttpClosed:
                connection.close()
                # a kept connection the server closed as we sent, before a byte of the answer: once
                # more on a new one (the request was not read)
                if reused and connection.received == 0 and attempt == 1:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            assert isinstance(event, Head)
            return HttpResponse(self, connection, event)
        raise AssertionError("unreachable")

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b"", *, max_body: int
    ) -> HttpReply:
        """Send a request and read its answer, at most `max_body` bytes of it."""
        response = await self.stream(method, url, headers, body)
        kept, truncated = bytearray(), False
        try:
            async for block in response:
                room = max_body - len(kept)
                if len(block) > room:
                    kept += block[:room]
                    truncated = True
                    break
                kept += block
        finally:
            await response.aclose()  # an answer read to its end gave its connection back already
        return HttpReply(response.status, response.head, bytes(kept), truncated)

    def give_back(self, connection: _Connection) -> None:
        """A connection whose response was read to its end: kept for the next request, or closed."""
        assert connection.parser is not None
        keep = connection.parser.keep_alive and not connection.closed
        connection.parser = None
        idle = self._idle.setdefault(connection.key, deque())
        if not keep or len(idle) >= self.max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self.keepalive_s, self._sweep_idle)
        self._wake_one()

    def _sweep_idle(self) -> None:
        """Close what has idled past `keepalive_s`, whether or not its destination is asked for again
        (a tenant's endpoint that is no longer called must not keep our sockets open)."""
        self._sweep = None
        for key, idle in list(self._idle.items()):
            self._drop_stale(idle)
            if not idle:
                del self._idle[key]
        if self._idle:
            self._sweep = asyncio.get_running_loop().call_later(self.keepalive_s, self._sweep_idle)

    def _drop_stale(self, idle: deque[_Connection]) -> None:
        """Close, oldest first, what the server closed or what idled past `keepalive_s`."""
        stale = time.monotonic() - self.keepalive_s
        while idle and (idle[0].closed or idle[0].idle_since <= stale):
            idle.popleft().close()

    def _take(self, key: _Key) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        self._drop_stale(idle)
        while idle:
            connection = idle.pop()  # the newest: the likeliest to be warm and alive
            if not connection.closed:
                return connection
        return None

    async def _acquire(self, target: Target, key: _Key) -> tuple[_Connection, bool]:
        """A kept connection to `key` (True), else a new one (False); at the cap, an idle connection to
        elsewhere is closed to make room, or the request waits (`read_timeout_s`) for one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout_s
        while True:
            connection = self._take(key)
            if connection is not None:
                return connection, True
            if self._open_count < self.max_connections:
                return await self._open(target, key), False
            idle = [queue for queue in self._idle.values() if queue]
            if idle:
                min(idle, key=lambda queue: queue[0].idle_since).popleft().close()
                continue
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                if waiter.done() and not waiter.cancelled():  # woken as time ran out: pass the wake on
                    self._wake_one()
                raise HttpTimeout("no connection free within the timeout") from None
            finally:
                if not waiter.done():
                    self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _open(self, target: Target, key: _Key) -> _Connection:
        self._open_count += 1
        connection = _Connection(key, self._closed)
        self._live.add(connection)
        tls = target.scheme in ("https", "wss")
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await asyncio.get_running_loop().create_connection(
                    lambda: connection,
                    target.address,
                    target.port,
                    ssl=(self._tls or tls_context()) if tls else None,
                    server_hostname=target.host if tls else None,
                )
        except TimeoutError:
            connection.close()
            raise HttpTimeout("connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            raise HttpConnectError(f"cannot connect: {type(exc).__name__}") from None
        except BaseException:
            connection.close()
            raise
        return connection

    def _closed(self, connection: _Connection) -> None:
        self._live.discard(connection)
        self._open_count -= 1
        self._wake_one()

    async def aclose(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for connection in list(self._live):
            connection.close()
        self._idle.clear()
