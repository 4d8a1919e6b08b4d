"""WebSocket connections of the provider clients (Deepgram STT and Aura, ElevenLabs), over picows.

picows frames, masks and parses in C, and a send is written at once: the STT's audio, ten messages
a second on every call, cost about four times as much through the `websockets` library (its framing,
send lock and drain per message). `ClientConnection` offers what the clients use of `websockets`'
connection (`send`, `recv`, `async for`, `close`) and raises its `ConnectionClosedOK` /
`ConnectionClosedError`, so one place maps closes and handshake failures to provider errors.

Bounds: a message of at most `MAX_MESSAGE` in at most `MAX_FRAGMENTS` frames; at most `MAX_QUEUE`
messages or `MAX_UNREAD` bytes unread, then the socket stops reading until the client catches up;
a send waits while the kernel's buffer is full; the close handshake waits `CLOSE_TIMEOUT_S`.
Connections go to the address the destination policy checked, never a redirect.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import websockets
from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSHandshakeError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close

from voicegrid.core.egress import DestinationError, Destinations
from voicegrid.core.errors import HttpRequestRefused
from voicegrid.core.http1 import check_request
from voicegrid.core.tls import tls_context
from voicegrid.providers.errors import ProviderConnectError, ProviderError, for_status

MAX_MESSAGE = 4 * 1024 * 1024
MAX_FRAGMENTS = 1024  # frames of one message: a peer's one-byte frames cost an object each
MAX_QUEUE = 64
MAX_UNREAD = 4 * 1024 * 1024  # bytes of unread messages (64 of the largest would be 256 MiB)
CLOSE_TIMEOUT_S = 2.0
_NORMAL = (1000, 1001)


class ClientConnection(WSListener):
    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self._inbox: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._fragments: list[bytes] | None = None
        self._fragments_text = False
        self._fragments_size = 0
        self._unread = 0  # bytes (characters, for text) of the messages in the inbox
        self._rcvd: Close | None = None
        self._gone = False
        self._reading_paused = False
        self._writable = asyncio.Event()
        self._writable.set()

    # ---- picows' side --------------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if frame.fin:
                self._deliver(
                    frame.get_payload_as_utf8_text()
                    if kind is WSMsgType.TEXT
                    else frame.get_payload_as_bytes()
                )
            else:
                self._fragments, self._fragments_text = [frame.get_payload_as_bytes()], kind is WSMsgType.TEXT
                self._fragments_size = len(self._fragments[0])
        elif kind is WSMsgType.CONTINUATION and self._fragments is not None:
            self._fragments.append(frame.get_payload_as_bytes())
            self._fragments_size += len(self._fragments[-1])
            if self._fragments_size > MAX_MESSAGE or len(self._fragments) > MAX_FRAGMENTS:
                self._fragments = None
                self._abort(WSCloseCode.MESSAGE_TOO_BIG)
            elif frame.fin:
                whole, self._fragments = b"".join(self._fragments), None
                self._deliver(whole.decode(errors="replace") if self._fragments_text else whole)
        elif kind is WSMsgType.CLOSE:
            code, reason = frame.get_close_code(), frame.get_close_message()
            self._rcvd = Close(code.value, reason.decode(errors="replace") if reason else "")
            if not transport.is_close_frame_sent:
                transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._gone = True
        self._writable.set()  # a send waiting for room finds the connection gone
        self._wake()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def _deliver(self, message: str | bytes) -> None:
        self._inbox.append(message)
        self._unread += len(message)
        full = len(self._inbox) >= MAX_QUEUE or self._unread >= MAX_UNREAD
        if full and not self._reading_paused and self.transport is not None:
            self._reading_paused = True  # the client is behind: let TCP push back on the provider
            self.transport.underlying_transport.pause_reading()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _abort(self, code: WSCloseCode) -> None:
        if self.transport is not None and not self.transport.is_close_frame_sent:
            self.transport.send_close(code)
        if self.transport is not None:
            self.transport.disconnect()

    # ---- the client's side ---------------------------------------------------------------------
    def _closed(self) -> ConnectionClosed:
        if self._rcvd is not None and self._rcvd.code in _NORMAL:
            return ConnectionClosedOK(self._rcvd, None)
        return ConnectionClosedError(self._rcvd, None)

    async def recv(self) -> str | bytes:
        while not self._inbox:
            if self._gone:
                raise self._closed()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._inbox.popleft()
        self._unread -= len(message)
        room = len(self._inbox) <= MAX_QUEUE // 2 and self._unread <= MAX_UNREAD // 2
        if self._reading_paused and room and self.transport is not None:
            self._reading_paused = False
            self.transport.underlying_transport.resume_reading()
        return message

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.recv()
            except ConnectionClosedOK:
                return

    async def send(self, message: str | bytes) -> None:
        if not self._writable.is_set():
            await self._writable.wait()
        transport = self.transport
        if self._gone or transport is None or transport.is_close_frame_sent:
            raise self._closed()
        if isinstance(message, str):
            transport.send(WSMsgType.TEXT, message.encode())
        else:
            transport.send(WSMsgType.BINARY, message)

    async def close(self) -> None:
        transport = self.transport
        if transport is None or self._gone:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode.OK)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await transport.wait_disconnected()
        transport.disconnect(graceful=False)


async def open_ws(
    provider: str, url: str, headers: dict[str, str], timeout_s: float, destinations: Destinations
) -> ClientConnection:
    """The handshake, to the address the destination policy checked for the URL's host (the name
    kept for the Host header and TLS); no redirect is followed."""
    try:
        async with asyncio.timeout(timeout_s):
            target = await destinations.resolve(url)
    except DestinationError as exc:
        raise ProviderConnectError(provider, f"endpoint not allowed: {exc.reason}") from exc
    except TimeoutError as exc:
        raise ProviderConnectError(provider, "endpoint did not resolve in time") from exc
    scheme, rest = url.split("://", 1)
    path = rest[len(rest.split("/", 1)[0]) :] or "/"
    try:  # picows writes the path and the headers as given: a key with CR LF would add header lines
        check_request(path, headers)
    except HttpRequestRefused as exc:
        raise ProviderConnectError(provider, f"bad endpoint or key: {exc}") from exc
    address = f"[{target.address}]" if ":" in target.address else target.address
    secure = scheme in ("wss", "https")
    tls_name: dict[str, Any] = {"server_hostname": target.host} if secure else {}
    try:
        async with asyncio.timeout(timeout_s):
            _, listener = await ws_connect(
                ClientConnection,
                f"{'wss' if secure else 'ws'}://{address}:{target.port}{path}",
                extra_headers={**headers, "Host": target.authority},
                ssl_context=tls_context() if secure else None,
                max_redirects=0,
                max_frame_size=MAX_MESSAGE,
                websocket_handshake_timeout=timeout_s,
                enable_auto_ping=False,  # the vendors keep their own keepalive messages
                use_aiofastnet=False,
                **tls_name,
            )
    except WSHandshakeError as exc:
        status = exc.response.status if exc.response is not None else None
        if status is None:
            raise ProviderConnectError(provider, f"handshake failed: {exc}") from exc
        raise for_status(provider, int(status), f"handshake refused: HTTP {int(status)}") from exc
    except TimeoutError as exc:
        raise ProviderConnectError(provider, "handshake timed out") from exc
    except (OSError, WSError) as exc:
        raise ProviderConnectError(provider, f"cannot connect: {exc}") from exc
    assert isinstance(listener, ClientConnection)
    return listener


def closed_error(provider: str, exc: Exception) -> ProviderError:
    from voicegrid.providers.errors import ProviderClosed

    close = exc.rcvd if isinstance(exc, ConnectionClosed) else None
    code = close.code if close is not None else None
    if code == 1008:
        return for_status(provider, 401, "closed by the server: policy violation (credentials?)")
    if code == 1013:
        return for_status(provider, 429, "closed by the server: try again later")
    return ProviderClosed(provider, f"connection closed: {exc}")


__all__ = ["ClientConnection", "closed_error", "open_ws", "websockets"]
