"""Connections to tenants' destinations that go to the very address the policy checked.

`PinnedTransport` checks each request's URL (redirects included) with `Destinations.resolve` and sends
it to the checked address, keeping the name for the Host header and for TLS (SNI and certificate
checks). `ws_connect_args` does the same for a WebSocket handshake. Proxies from the environment are
not used for these: they would connect on their own lookup.
"""

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator
from typing import Any, Protocol

import certifi
import httpx

from voicegrid.core.egress import Destinations, Target


class _Url(Protocol):
    def copy_with(self, **kwargs: Any) -> Any: ...


class _Request(Protocol):
    url: Any
    extensions: Any


async def pin_request(policy: Destinations, request: _Request) -> None:
    """Point an httpx request at the address the policy checked."""
    target = await policy.resolve(str(request.url))
    request.url = request.url.copy_with(host=target.address)
    request.extensions = {**request.extensions, "sni_hostname": target.host}


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS client context (httpx's default: certifi's CAs). Making one reads and
    parses the CA bundle, milliseconds of CPU; a client made for each request paid it each time."""
    return ssl.create_default_context(cafile=certifi.where())


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: Destinations, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self._inner = inner  # made at the first request: the TLS context is not a node's start's work

    @property
    def inner(self) -> httpx.AsyncBaseTransport:
        if self._inner is None:
            self._inner = httpx.AsyncHTTPTransport(trust_env=False, verify=tls_context())
        return self._inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await pin_request(self.policy, request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


def pinned_client(policy: Destinations, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client whose every request passes the policy and goes to the checked address."""
    return httpx.AsyncClient(transport=PinnedTransport(policy), trust_env=False, **kwargs)


def release(response: httpx.Response) -> None:
    """After a response is read or closed: break the reference cycle httpx leaves between it and its
    stream (with the request, headers and pool entries, about 45 objects a request), which only the
    cycle collector would free, stopping the event loop to do so (gen-0 pauses of 20-50 ms under
    load, 2026-12-04). What is left of the response (status, headers, content read) stays."""
    response.stream = httpx.ByteStream(b"")


@contextlib.asynccontextmanager
async def streamed(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> AsyncIterator[httpx.Response]:
    """`client.stream(...)`, with the response released (`release`) once closed, on every path."""
    response: httpx.Response | None = None
    try:
        async with client.stream(method, url, **kwargs) as response:
            yield response
    finally:
        if response is not None:
            release(response)


def ws_connect_args(target: Target) -> dict[str, Any]:
    """`websockets.connect` arguments that reach the checked address, with the name kept for TLS."""
    args: dict[str, Any] = {"host": target.address, "port": target.port, "proxy": None}
    if target.scheme in ("wss", "https"):
        args["server_hostname"] = target.host
        args["ssl"] = tls_context()
    return args
