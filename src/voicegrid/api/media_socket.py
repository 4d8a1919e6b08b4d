"""Carrier media streams on a callback WebSocket, on the API's own port but outside the ASGI stack.

uvicorn hands every WebSocket upgrade to the protocol that `upgrade_protocol` builds. For the Twilio
and Telnyx paths that is picows' protocol: frames are parsed in C and given to the stream's sans-I/O
core in a callback, and what the stream sends is written at once. There is no task, queue or ASGI
message per 20 ms frame; that path cost about 140 µs a message (`bench/streams.py --profile`). Every
other path (the talk page, and any future socket) keeps uvicorn's own protocol and the ASGI routes.

What a stranger can make us hold is capped: sockets still waiting for their `start` frame and
admission (the setting `media_streams_waiting`, 1,024 a node by default; each for at most
`START_TIMEOUT_S`), a message (`MAX_FRAME_BYTES`, fragments included) and what a peer that stops
reading leaves unsent (`MAX_UNSENT_BYTES`).
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]  # not in its stubs; built as picows builds it
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voicegrid.api.routes.media_streams import (
    START_TIMEOUT_S,
    UNSUPPORTED_DATA,
    admit_stream,
    telnyx_credentials,
    twilio_credentials,
)
from voicegrid.services import AppServices
from voicegrid.transports.carrier import MAX_FRAGMENTS, MAX_FRAME_BYTES, CarrierStream, StreamStart
from voicegrid.transports.streams import POLICY_VIOLATION, TRY_AGAIN_LATER
from voicegrid.transports.telnyx import TelnyxStream
from voicegrid.transports.twilio import TwilioStream

log = logging.getLogger(__name__)
PICOWS_LOG = logging.getLogger("picows.media-streams")
logging.getLogger("picows").setLevel(logging.WARNING)  # it logs every connection at INFO
MEDIA_PATHS = (b"/v1/media-streams/twilio", b"/v1/media-streams/telnyx")
MAX_EARLY = 100  # messages kept while a call is admitted (2 s of 20 ms media); the oldest go first
MAX_UNSENT_BYTES = 1024 * 1024  # about 40 s of a call's audio: a peer this far behind is gone
NORMAL_CLOSURE = 1000
INTERNAL_ERROR = 1011
MESSAGE_TOO_BIG = 1009
Credentials = Callable[[StreamStart], tuple[str, str] | str]
Fallback = Callable[..., asyncio.Protocol]  # uvicorn's own WebSocket protocol class


class MediaSockets(Collector):
    """The node's carrier sockets: the ones still waiting for admission, and every socket's task."""

    def __init__(self, services: AppServices, max_waiting: int) -> None:
        self.services = services
        self.max_waiting = max_waiting  # sockets held before their call is admitted
        self.waiting = 0
        self.refused_busy = 0  # sockets closed at once because `max_waiting` were waiting
        self.no_start = 0  # closed: no `start` frame within START_TIMEOUT_S
        self.too_big = 0  # closed: a message over MAX_FRAME_BYTES
        self.not_reading = 0  # dropped: the peer left MAX_UNSENT_BYTES unread
        self.tasks: set[asyncio.Task[None]] = set()

    def collect(self) -> Iterator[Metric]:
        """/metrics, read when scraped (a prometheus_client collector)."""
        yield GaugeMetricFamily(
            "voicegrid_media_sockets_waiting",
            "Carrier media sockets not yet started and admitted",
            value=self.waiting,
        )
        closed = CounterMetricFamily(
            "voicegrid_media_sockets_closed", "Carrier media sockets we closed, by why", labels=["reason"]
        )
        closed.add_metric(["over_cap"], self.refused_busy)
        closed.add_metric(["no_start"], self.no_start)
        closed.add_metric(["too_big"], self.too_big)
        closed.add_metric(["not_reading"], self.not_reading)
        yield closed

    def listener(self, request: WSUpgradeRequest) -> WSListener | None:
        """picows' router: a listener for a carrier's path, None (404) for anything else."""
        path, _, query = request.path.partition(b"?")
        if path == b"/v1/media-streams/twilio":
            twilio = _CarrierSocket(self)
            twilio.stream = TwilioStream(twilio.send_text, twilio.stream_closed)
            twilio.credentials = twilio_credentials
            return twilio
        if path == b"/v1/media-streams/telnyx":
            telnyx = _CarrierSocket(self)
            stream = TelnyxStream(telnyx.send_text, telnyx.stream_closed)
            agent = parse_qs(query.decode("latin-1"), max_num_fields=8).get("agent_id", [None])[0]
            telnyx.stream = stream
            telnyx.credentials = telnyx_credentials(
                stream, request.headers.get("x-telnyx-streaming-auth-token"), agent
            )
            return telnyx
        return None


class _CarrierSocket(WSListener):
    stream: CarrierStream
    credentials: Credentials

    def __init__(self, sockets: MediaSockets) -> None:
        super().__init__()
        self.sockets = sockets
        self.transport: WSTransport | None = None
        self.gone = asyncio.Event()  # the peer went, or we closed
        self.started = asyncio.Event()  # the `start` frame came (or the socket went first)
        self.counted = False  # holds one of the waiting places
        self.fragments: list[bytes] | None = None  # a text message sent in pieces, so far
        self.fragments_size = 0
        self.early: deque[bytes] | None = deque(maxlen=MAX_EARLY)  # None once the agent listens

    # ---- picows' callbacks -----------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if self.sockets.waiting >= self.sockets.max_waiting:
            self.sockets.refused_busy += 1
            self.close(TRY_AGAIN_LATER, "too many streams waiting to start")
            return
        self.sockets.waiting += 1
        self.counted = True
        task = asyncio.get_running_loop().create_task(self._main())
        self.sockets.tasks.add(task)
        task.add_done_callback(self.sockets.tasks.discard)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT and frame.fin:  # the carriers' every frame: one whole message
            self._message(frame.get_payload_as_bytes())
        elif kind is WSMsgType.TEXT:
            self.fragments = [frame.get_payload_as_bytes()]
            self.fragments_size = len(self.fragments[0])
        elif kind is WSMsgType.CONTINUATION and self.fragments is not None:
            self.fragments.append(frame.get_payload_as_bytes())
            self.fragments_size += len(self.fragments[-1])  # kept as it grows: no sum per frame
            if self.fragments_size > MAX_FRAME_BYTES or len(self.fragments) > MAX_FRAGMENTS:
                self.sockets.too_big += 1
                self.close(MESSAGE_TOO_BIG, "message too big")
            elif frame.fin:
                whole, self.fragments = b"".join(self.fragments), None
                self._message(whole)
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        # binary frames carry nothing in these protocols; pings are answered by picows

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.gone.set()
        self.started.set()
        self._leave_waiting()

    # ---- the stream's side -----------------------------------------------------------------------
    def _message(self, data: bytes) -> None:
        if self.early is None:
            self.stream.receive(data)
        elif self.stream.start is None:
            if self.stream.receive(data) is not None:
                self.started.set()
        else:  # admission is under way: the caller's first words wait for the agent
            self.early.append(data)

    def send_text(self, text: str) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected or transport.is_close_frame_sent:
            return
        if transport.underlying_transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            log.info("%s stream: the peer stopped reading; closing", self.stream.carrier)
            self.sockets.not_reading += 1
            transport.disconnect(graceful=False)
            return
        transport.send(WSMsgType.TEXT, text.encode())

    def stream_closed(self, reason: str) -> None:
        self.close(NORMAL_CLOSURE, "")

    def close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is not None and not transport.is_disconnected and not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode(code), reason.encode()[:123])
            transport.disconnect()
        self.gone.set()
        self.started.set()

    def _leave_waiting(self) -> None:
        if self.counted:
            self.counted = False
            self.sockets.waiting -= 1

    async def _until_gone(self) -> None:
        """`StreamCalls.run`'s receive: the agent is listening now; what came while it was being
        admitted goes first, and then the socket feeds the stream until it goes."""
        early, self.early = self.early or (), None
        for data in early:
            self.stream.receive(data)
        await self.gone.wait()

    async def _main(self) -> None:
        """The `start` frame, then admission, then the call until it ends; the socket is closed on
        every way out, with the reason it was refused when it was."""
        try:
            streams = self.sockets.services.streams
            if streams is None:
                self.close(TRY_AGAIN_LATER, "telephony is not running")
                return
            try:
                async with asyncio.timeout(START_TIMEOUT_S):
                    await self.started.wait()
            except TimeoutError:
                self.sockets.no_start += 1
                self.close(POLICY_VIOLATION, "no start frame")
                return
            start = self.stream.start
            if start is None or self.gone.is_set():
                return
            found = self.credentials(start)
            if isinstance(found, str):
                self.close(UNSUPPORTED_DATA, found)
                return
            admitted = await admit_stream(
                self.sockets.services, streams, self.stream.carrier, found[0], found[1], start
            )
            if isinstance(admitted, tuple):
                self.close(*admitted)
                return
            self._leave_waiting()
            await streams.run(admitted, self.stream, self._until_gone)
        except Exception:
            log.exception("%s stream failed", self.stream.carrier)
            self.close(INTERNAL_ERROR, "internal error")
        finally:
            self._leave_waiting()
            self.close(NORMAL_CLOSURE, "")


class _Upgrade(asyncio.BufferedProtocol):
    """What uvicorn switches an upgrading connection to: it reads the request line, then gives the
    connection to picows (a carrier's path) or to uvicorn's own WebSocket protocol (any other).

    It is a buffered protocol, so the event loop reads a carrier's bytes straight into picows' own
    buffer (no copy); for uvicorn's protocol, it reads into one of its own and hands over bytes."""

    def __init__(self, sockets: MediaSockets, fallback: Fallback, **uvicorn: Any) -> None:
        self.sockets, self.fallback, self.uvicorn = sockets, fallback, uvicorn
        self.transport: asyncio.BaseTransport | None = None
        self.inner: asyncio.BaseProtocol | None = None
        self.buffered: asyncio.BufferedProtocol | None = None
        self.own: bytearray | None = None  # the read buffer for uvicorn's protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """uvicorn's one call: the whole upgrade request, as it parsed it."""
        if self.inner is None:
            self.inner = self._choose(data)
            self.inner.connection_made(self.transport)  # type: ignore[arg-type]
        if self.buffered is not None:
            _feed(self.buffered, data)
        else:
            self.inner.data_received(data)  # type: ignore[attr-defined]

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.buffered is not None:
            return memoryview(self.buffered.get_buffer(sizehint))
        if self.own is None:
            self.own = bytearray(64 * 1024)
        return memoryview(self.own)

    def buffer_updated(self, nbytes: int) -> None:
        if self.buffered is not None:
            self.buffered.buffer_updated(nbytes)
        elif self.inner is not None and self.own is not None:
            self.inner.data_received(bytes(self.own[:nbytes]))  # type: ignore[attr-defined]

    def _choose(self, request: bytes) -> asyncio.BaseProtocol:
        path = request.split(b" ", 2)[1].partition(b"?")[0] if request.count(b" ") >= 2 else b""
        if path not in MEDIA_PATHS:
            return self.fallback(**self.uvicorn)
        self.buffered = WSProtocol(
            None, None, False,  # no host or path: a server's side
            self.sockets.listener, PICOWS_LOG,
            True,  # disconnect when a listener's callback raises
            5.0,  # handshake timeout: the request is already here
            False, 20.0, 20.0, WSAutoPingStrategy.PING_WHEN_IDLE,  # no pings of ours: media flows
            True,  # answer the peer's pings
            MAX_FRAME_BYTES, None, 16 * 1024,
        )  # fmt: skip
        return self.buffered

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        if self.inner is not None and hasattr(self.inner, "eof_received"):
            return bool(self.inner.eof_received())
        return None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


def _feed(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    view, offset = memoryview(data), 0
    while offset < len(data):
        buffer = memoryview(protocol.get_buffer(len(data) - offset))
        take = min(len(buffer), len(data) - offset)
        buffer[:take] = view[offset : offset + take]
        protocol.buffer_updated(take)
        offset += take


def upgrade_protocol(sockets: MediaSockets, fallback: Fallback) -> Callable[..., _Upgrade]:
    """uvicorn's `ws` setting: a protocol per upgrading connection (uvicorn passes its config, server
    state and app state, which the fallback protocol takes)."""

    def build(**uvicorn: Any) -> _Upgrade:
        return _Upgrade(sockets, fallback, **uvicorn)

    return build
