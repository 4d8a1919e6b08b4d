"""Our HTTP/1.1 client against real servers on loopback: its pool, caps, timeouts and checks."""

import asyncio
import datetime
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.counting_http import Counting
from tests.support.endless_http import Endless
from voicegrid.core.egress import PERMISSIVE, STRICT, DestinationRefused, Destinations
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


async def test_a_request_reads_at_most_max_body_of_an_endless_answer_and_closes_its_connection() -> None:
    """A tenant's endpoint that streams without end (or lies in Content-Length) makes us hold
    `max_body` bytes, not what it sends."""
    lying = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n"
    endless = Endless(lambda _n: b"x" * 65536, most=1024, head=lying)  # 64 MiB at most
    server = await endless.start()
    http = client()
    try:
        reply = await http.request("POST", endless.url + "/v1/x", {}, b"{}", max_body=1000)
        await asyncio.sleep(0.2)
    finally:
        await http.aclose()
        server.close()
    assert (reply.status, reply.body, reply.truncated) == (200, b"x" * 1000, True)
    assert endless.sent < 1024  # our side closed: the server's writes failed long before its bound
    assert http._open_count == 0


async def test_an_answer_of_exactly_max_body_is_whole_and_its_connection_kept() -> None:
    counting = Counting(hold_s=0.0)
    server = await counting.start()
    http = client()
    url = f"http://127.0.0.1:{counting.port}/"
    try:
        first = await http.request("GET", url, {}, max_body=2)
        second = await http.request("GET", url, {}, max_body=2)
    finally:
        await http.aclose()
        server.close()
    assert (first.body, first.truncated, second.body, second.truncated) == (b"ok", False, b"ok", False)
    assert counting.opened == 1


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


def self_signed(name: str) -> tuple[bytes, bytes]:
    """A certificate for `name` and its key, PEM, made here (no file of ours holds a key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


async def tls_server(tmp_path: Path, name: str) -> tuple[asyncio.Server, int, ssl.SSLContext, list[str]]:
    """An HTTPS server on loopback with a certificate for `name`, the client context that trusts that
    certificate, and the names the clients asked for (SNI)."""
    cert, key = self_signed(name)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    asked: list[str] = []
    server_side.sni_callback = lambda sock, server_name, context: asked.append(server_name or "") and None
    client_side = ssl.create_default_context(cadata=cert.decode())

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_side)
    return server, server.sockets[0].getsockname()[1], client_side, asked


def loopback_names(*names: str) -> Destinations:
    """A policy whose lookup answers 127.0.0.1 for `names`: the connection goes to loopback while the
    client speaks to the name (Host, SNI, the certificate check)."""

    async def resolver(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError(f"{host} is not a test name")
        return ["127.0.0.1"]

    return Destinations(allow_private=True, resolver=resolver)


async def test_https_goes_to_the_checked_address_and_speaks_to_the_name_sni_and_certificate_alike(
    tmp_path: Path,
) -> None:
    server, port, trusted, asked = await tls_server(tmp_path, "llm.example.test")
    http = HttpClient(
        loopback_names("llm.example.test"), connect_timeout_s=2.0, read_timeout_s=2.0, tls=trusted
    )
    try:
        assert await get(http, f"https://llm.example.test:{port}/v1/x") == (200, b"secret")
    finally:
        await http.aclose()
        server.close()
    assert asked == ["llm.example.test"]


async def test_https_to_a_server_whose_certificate_is_for_another_name_is_a_connect_error(
    tmp_path: Path,
) -> None:
    server, port, trusted, _ = await tls_server(tmp_path, "other.example.test")
    http = HttpClient(
        loopback_names("llm.example.test"), connect_timeout_s=2.0, read_timeout_s=2.0, tls=trusted
    )
    try:
        with pytest.raises(HttpConnectError):
            await get(http, f"https://llm.example.test:{port}/v1/x")
    finally:
        await http.aclose()
        server.close()
