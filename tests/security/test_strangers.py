"""Class 2: no stranger can stall or starve a node (SIP requests, TCP connections, descriptors)."""

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from voicegrid.sip import Request, Response, parse_message
from voicegrid.sip.build import new_branch, new_call_id, new_tag
from voicegrid.sip.headers import Headers
from voicegrid.sip.limits import RequestLimits
from voicegrid.sip.useragent import Addr, Incoming, UserAgent
from voicegrid.telephony.sip_transport import SipEndpoint, TcpLimits

US: Addr = ("udp", "127.0.0.1", 5060)


def _request(method: str, *, to_tag: str | None = None, call_id: str | None = None) -> bytes:
    headers = Headers()
    headers.add("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch={new_branch()};rport")
    headers.add("Max-Forwards", "70")
    headers.add("From", f"<sip:probe@127.0.0.1>;tag={new_tag()}")
    headers.add("To", "<sip:us@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""))
    headers.add("Call-ID", call_id or new_call_id("127.0.0.1"))
    headers.add("CSeq", f"1 {method}")
    headers.add("Contact", "<sip:probe@127.0.0.1:5070>")
    return bytes(Request(headers=headers, body=b"", method=method, uri="sip:us@127.0.0.1"))


def _answers(ua: UserAgent) -> list[int]:
    out = []
    for data, _ in ua.datagrams_to_send():
        message = parse_message(data)
        assert isinstance(message, Response)
        out.append(message.status)
    return out


def test_options_probes_are_answered_without_keeping_state() -> None:
    ua = UserAgent(US)
    for i in range(500):
        ua.receive(_request("OPTIONS"), ("udp", "127.0.0.1", 5070), i * 0.01)
    assert _answers(ua) == [200] * 500
    assert len(ua._servers) == 0
    assert ua.get_timer() is None  # nothing to retransmit, nothing to expire


@pytest.mark.parametrize("method", ["REFER", "NOTIFY", "INFO", "BYE"])
def test_a_request_that_needs_a_dialog_gets_481_outside_one_and_never_reaches_the_application(
    method: str,
) -> None:
    ua = UserAgent(US)
    ua.receive(_request(method), ("udp", "127.0.0.1", 5070), 0.0)
    assert _answers(ua) == [481]
    assert ua.next_event() is None
    assert len(ua._servers) == 0


def test_a_flood_from_one_source_is_dropped_unanswered_while_other_sources_are_served() -> None:
    ua = UserAgent(US, request_limits=RequestLimits(per_source_per_s=50, total_per_s=1000))
    for i in range(5000):  # 5,000 requests in one second from one address
        ua.receive(_request("INVITE"), ("udp", "127.0.0.9", 5070), i / 5000)
    invites = [e for e in iter(ua.next_event, None) if isinstance(e, Incoming)]
    assert len(invites) <= 150  # the burst (100) and a second's worth of rate (50)
    assert ua.gate.dropped_per_source >= 4850
    ua.receive(_request("INVITE"), ("udp", "127.0.0.10", 5070), 1.0)
    assert isinstance(ua.next_event(), Incoming)  # a caller from elsewhere still gets through


def test_past_the_transaction_cap_a_new_request_gets_503_and_no_state() -> None:
    ua = UserAgent(US, request_limits=RequestLimits(max_server_transactions=20))
    for i in range(30):
        ua.receive(_request("INVITE"), ("udp", f"127.0.1.{i}", 5070), 0.0)
    assert len(ua._servers) == 20
    assert _answers(ua).count(503) == 10


class _NoScan(dict[Any, Any]):
    """A table that fails the test when anything walks it: lookups and removals must be by key."""

    def __iter__(self) -> Any:
        raise AssertionError("the transaction table was scanned")

    items = values = keys = __iter__  # type: ignore[assignment]


def test_transactions_and_pending_acks_are_found_and_removed_without_scanning_the_table() -> None:
    ua = UserAgent(US)
    ua._servers, ua._clients, ua._acks = _NoScan(), _NoScan(), _NoScan()
    for i in range(200):
        ua.receive(_request("INVITE"), ("udp", f"127.0.2.{i}", 5070), 0.0)
    for incoming in [e for e in iter(ua.next_event, None) if isinstance(e, Incoming)]:
        ua.respond(incoming, _ok(incoming.request), 0.1, contact="<sip:us@127.0.0.1>")
    ua.handle_timer(100.0)  # every 2xx unacknowledged, every transaction done: all taken out by key
    assert len(ua._servers) == 0
    assert len(ua._acks) == 0


def _ok(request: Request) -> Response:
    from voicegrid.sip.build import response_to

    return response_to(request, 200, to_tag=new_tag())


# ---- TCP ---------------------------------------------------------------------------------------


async def _endpoint(message_s: float, idle_s: float) -> SipEndpoint:
    limits = RequestLimits(per_source_per_s=100_000, total_per_s=100_000)
    ua = UserAgent(("tcp", "127.0.0.1", 0), request_limits=limits)
    ep = SipEndpoint(
        ua,
        lambda event: None,
        TcpLimits(
            max_connections=8, max_per_source=3, message_s=message_s, idle_s=idle_s, max_write_buffer=2048
        ),
    )
    await ep.start("127.0.0.1", 0)
    return ep


@pytest.fixture
async def endpoint() -> AsyncIterator[SipEndpoint]:
    ep = await _endpoint(message_s=0.4, idle_s=0.8)
    yield ep
    await ep.stop()


@pytest.fixture
async def patient_endpoint() -> AsyncIterator[SipEndpoint]:
    """Timers long enough that a loop stalled by a loaded machine never closes a connection for slowness."""
    ep = await _endpoint(message_s=30.0, idle_s=30.0)
    yield ep
    await ep.stop()


async def _connect(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether our side closed the connection within `seconds`: an end of stream, or a reset (the
    kernel resets instead when the peer's late bytes arrive after the close)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(4096):
                pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def test_tcp_connections_are_capped_per_source_and_in_all(endpoint: SipEndpoint) -> None:
    held = [await _connect(endpoint.port) for _ in range(3)]
    extra, _ = await _connect(endpoint.port)
    assert await _closed_within(extra, 1.0)  # a fourth from the same address
    held += [await _connect(endpoint.port, f"127.0.0.{n}") for n in (2, 2, 3, 3, 4)]
    await asyncio.sleep(0.05)
    other, _ = await _connect(endpoint.port, "127.0.0.5")
    assert await _closed_within(other, 1.0)  # the ninth in all
    assert endpoint.tcp_refused == 2
    for _, writer in held:
        writer.close()


async def test_a_tcp_connection_that_sends_nothing_or_too_slowly_is_closed(endpoint: SipEndpoint) -> None:
    silent, _ = await _connect(endpoint.port)
    slow, slow_writer = await _connect(endpoint.port)
    message = _request("OPTIONS").replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    for byte in message[:20]:  # a byte every 0.1 s: the message never completes in time
        slow_writer.write(bytes([byte]))
        await asyncio.sleep(0.1)
        if slow.at_eof():
            break
    assert await _closed_within(silent, 3.0)
    assert await _closed_within(slow, 3.0)
    for _ in range(100):  # the count follows the close; on a loaded machine a moment later
        if endpoint.tcp_timed_out == 2:
            break
        await asyncio.sleep(0.02)
    assert endpoint.tcp_timed_out == 2


async def test_a_tcp_peer_that_does_not_read_is_dropped_not_buffered(patient_endpoint: SipEndpoint) -> None:
    endpoint = patient_endpoint
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", endpoint.port))
    _reader, writer = await asyncio.open_connection(sock=sock)
    message = _request("OPTIONS").replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    try:
        for _ in range(1000):  # answers pile up on our side (the kernel's buffers, then ours): never read
            writer.write(message * 50)
            await writer.drain()
            if endpoint.tcp_overflowed:
                break
    except ConnectionError:
        pass
    assert endpoint.tcp_timed_out == 0  # dropped for not reading, not for being slow
    assert endpoint.tcp_overflowed == 1
    writer.close()


def test_a_node_started_with_a_low_file_limit_raises_it_to_the_hard_limit() -> None:
    script = (
        "import resource; from voicegrid.process import raise_file_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "print(raise_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], min(hard, 1 << 20))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    limit, soft, hard = map(int, out.stdout.split())
    assert limit == soft == hard > 256


def test_a_probe_flood_from_many_sources_does_not_crowd_out_new_calls() -> None:
    ua = UserAgent(US, request_limits=RequestLimits(per_source_per_s=100, total_per_s=500))
    for i in range(5000):  # OPTIONS from 200 addresses, each under its own limit, far over the total
        ua.receive(_request("OPTIONS"), ("udp", f"127.0.3.{i % 200}", 5070), i / 5000)
    assert ua.gate.dropped_total > 3000
    ua.receive(_request("INVITE"), ("udp", "127.0.0.10", 5070), 1.0)
    assert isinstance(ua.next_event(), Incoming)  # the call still gets through
