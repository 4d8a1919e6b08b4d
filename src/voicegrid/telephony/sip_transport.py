"""The asyncio side of SIP: one UDP socket and one TCP listener feed a sans-I/O UserAgent.

Thin on purpose: bytes in -> `ua.receive`, then drain what the agent wants sent, hand its events to
the application, and re-arm a single timer at the agent's next deadline. TCP connections are
framed with StreamFramer, reused for responses and for requests to the same peer, and answer a
double-CRLF keep-alive with a single CRLF (RFC 5626).

What a stranger can hold over TCP is bounded (`TcpLimits`): connections in all and per source
address (past either, a new connection is closed at once); a message must arrive whole within
`message_s` of the connection or of its first bytes, and a connection with nothing to say for
`idle_s` is closed; a peer that does not read what we send is dropped once `max_write_buffer`
bytes wait for it, never buffered without end.
"""

import asyncio
import errno
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from voicegrid.sip.errors import ParseError
from voicegrid.sip.framing import StreamFramer
from voicegrid.sip.useragent import Addr, Event, UserAgent
from voicegrid.telephony.errors import TransportError

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0
ANY_PORT_TRIES = 16


@dataclass(frozen=True, slots=True)
class TcpLimits:
    max_connections: int = 1000
    max_per_source: int = 32
    message_s: float = 10.0  # a whole message, from the connection or its first byte
    idle_s: float = 300.0  # nothing at all (a keep-alive counts)
    max_write_buffer: int = 256 * 1024


DEFAULT_TCP_LIMITS = TcpLimits()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, endpoint: "SipEndpoint") -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint.on_bytes(data, ("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class SipEndpoint:
    def __init__(
        self, ua: UserAgent, on_event: Callable[[Event], None], tcp: TcpLimits = DEFAULT_TCP_LIMITS
    ) -> None:
        self.ua = ua
        self.tcp = tcp
        self._inbound: Counter[str] = Counter()  # open inbound connections per source address
        self._inbound_total = 0
        self.tcp_refused = 0  # connections closed at once: over a cap
        self.tcp_timed_out = 0  # closed for a message too slow or a connection idle too long
        self.tcp_overflowed = 0  # closed because the peer did not read what we sent
        self.on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self._connecting: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Listen on `port` for UDP and TCP; port 0 is any port free for both: the kernel picks the
        UDP one, and when that number is taken for TCP (any process's outgoing connection may hold
        it) another is picked, up to `ANY_PORT_TRIES` times."""
        for attempt in range(1 if port else ANY_PORT_TRIES):
            try:
                self._udp, _ = await self._loop.create_datagram_endpoint(
                    lambda: _Udp(self), local_addr=(host, port)
                )
                self.port = self._udp.get_extra_info("sockname")[1]
                self._server = await asyncio.start_server(self._serve_tcp, host, self.port)
                return
            except OSError as exc:
                if self._udp is not None:
                    self._udp.close()
                    self._udp = None
                if port or exc.errno != errno.EADDRINUSE or attempt == ANY_PORT_TRIES - 1:
                    where = f"{host}:{port or self.port}"
                    raise TransportError(f"cannot listen for SIP on {where}: {exc.strerror}") from exc

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
        for writer in list(self._conns.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    # ---- in ------------------------------------------------------------------------------------
    def on_bytes(self, data: bytes, source: Addr) -> None:
        self.ua.receive(data, source, self._loop.time())
        self.flush()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0])
        if self._inbound_total >= self.tcp.max_connections or self._inbound[host] >= self.tcp.max_per_source:
            self.tcp_refused += 1
            writer.transport.abort()
            return
        self._inbound[host] += 1
        self._inbound_total += 1
        try:
            await self._read_stream(reader, writer, (host, peer[1]))
        except asyncio.CancelledError:
            writer.transport.abort()  # shutting down; a cancelled handler would be logged as an error
        finally:
            self._inbound_total -= 1
            self._inbound[host] -= 1
            if self._inbound[host] <= 0:
                del self._inbound[host]

    async def _read_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[str, int]
    ) -> None:
        self._conns[peer] = writer
        framer = StreamFramer(self.ua.limits)
        last = self._loop.time()  # the connection's start, or its last whole message or keep-alive
        spoke = False  # a first whole message came: from then on, quiet is allowed for idle_s
        try:
            while True:
                budget = self.tcp.message_s if framer.buffered or not spoke else self.tcp.idle_s
                try:
                    async with asyncio.timeout_at(last + budget):
                        data = await reader.read(65536)
                except TimeoutError:
                    self.tcp_timed_out += 1
                    log.info("closing SIP/TCP from %s:%s: too slow or idle", peer[0], peer[1])
                    break
                if not data:
                    break
                if not framer.buffered:
                    last = self._loop.time()  # a message starts now: it has message_s to arrive whole
                pings = framer.keepalives
                try:
                    messages = framer.feed(data)
                except ParseError as exc:
                    log.info("closing SIP/TCP from %s:%s: %s", peer[0], peer[1], exc.reason)
                    break
                if framer.keepalives > pings:
                    self._write(writer, b"\r\n")
                now = self._loop.time()
                if messages or framer.keepalives > pings:
                    last, spoke = now, spoke or bool(messages)
                for message in messages:
                    self.ua.receive_message(message, ("tcp", peer[0], peer[1]), now)
                self.flush()
        except ConnectionError:
            pass
        finally:
            if self._conns.get(peer) is writer:
                del self._conns[peer]
            writer.close()

    # ---- out -----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Send what the agent queued, deliver its events, and re-arm the one timer."""
        for data, (transport, host, port) in self.ua.datagrams_to_send():
            if transport == "udp":
                if self._udp is not None:
                    self._udp.sendto(data, (host, port))
            else:
                self._send_stream(data, (host, port))
        while (event := self.ua.next_event()) is not None:
            try:
                self.on_event(event)
            except Exception:  # one bad handler must not stop the signalling of every other call
                log.exception("SIP event handler failed")
        self._rearm()

    def _send_stream(self, data: bytes, peer: tuple[str, int]) -> None:
        writer = self._conns.get(peer)
        if writer is not None and not writer.is_closing():
            self._write(writer, data)
            return
        queued = self._connecting.get(peer)
        if queued is not None:
            queued.append(data)
            return
        self._connecting[peer] = [data]
        task = self._loop.create_task(self._connect(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        if writer.transport.get_write_buffer_size() > self.tcp.max_write_buffer:
            self.tcp_overflowed += 1
            log.info("dropping SIP/TCP peer %s: it does not read", writer.get_extra_info("peername"))
            writer.transport.abort()

    async def _connect(self, peer: tuple[str, int]) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(peer[0], peer[1])
        except (OSError, TimeoutError) as exc:
            log.info("SIP/TCP connect to %s:%s failed: %s", peer[0], peer[1], exc)
            self._connecting.pop(peer, None)
            return  # the transaction's timer B/F reports the failure to its user
        for data in self._connecting.pop(peer, []):
            self._write(writer, data)
        await self._read_stream(reader, writer, peer)

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.ua.get_timer()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.ua.handle_timer(self._loop.time())
        self.flush()
