"""Connections to tenants' destinations that go to the very address the policy checked.

`PinnedTransport` checks each request's URL (redirects included) with `Destinations.resolve` and sends
it to the checked address, keeping the name for the Host header and for TLS (SNI and certificate
checks). `ws_connect_args` does the same for a WebSocket handshake. Proxies from the environment are
not used for these: they would connect on their own lookup.
"""

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


class _ReleasedOnClose(httpx.AsyncByteStream):
    """A response's stream that, once closed, takes itself off its response. httpx's client wraps it in
    a stream that refers back to the response: a cycle (request, response, streams, headers, pool
    entries: about 45 objects a request) that only the cycle collector would free, stopping the event
    loop to do so (gen-0 pauses of 20-50 ms under load, 2026-12-04)."""

    def __init__(self, response: httpx.Response) -> None:
        assert isinstance(response.stream, httpx.AsyncByteStream)
        self._inner: httpx.AsyncByteStream = response.stream
        self._response: httpx.Response | None = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._inner.__aiter__()  # the inner stream's own iterator: no layer per chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._response is not None:  # what was read (status, headers, content) stays
                self._response.stream, self._response = httpx.ByteStream(b""), None


DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's own


class ReleasingTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose responses leave no reference cycle once closed (`_ReleasedOnClose`).
    `limits`: its connection pool's (a client given a transport ignores its own `limits`)."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport | None = None, limits: httpx.Limits = DEFAULT_LIMITS
    ) -> None:
        self._inner = inner  # made at the first request: the TLS context is not a node's start's work
        self.limits = limits

    @property
    def inner(self) -> httpx.AsyncBaseTransport:
        if self._inner is None:
            self._inner = httpx.AsyncHTTPTransport(trust_env=False, verify=tls_context(), limits=self.limits)
        return self._inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        response.stream = _ReleasedOnClose(response)
        return response

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


class PinnedTransport(ReleasingTransport):
    def __init__(
        self,
        policy: Destinations,
        inner: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(inner, limits)
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await pin_request(self.policy, request)
        return await super().handle_async_request(request)


def pinned_client(
    policy: Destinations, *, limits: httpx.Limits = DEFAULT_LIMITS, **kwargs: Any
) -> httpx.AsyncClient:
    """An httpx client whose every request passes the policy and goes to the checked address. Its
    `limits` go to the transport's pool: given to the client beside a transport, httpx would drop
    them without a word (the LLM's 256 kept connections were 20, a tool's cap of 4 was 100)."""
    return httpx.AsyncClient(transport=PinnedTransport(policy, limits=limits), trust_env=False, **kwargs)


def ws_connect_args(target: Target) -> dict[str, Any]:
    """`websockets.connect` arguments that reach the checked address, with the name kept for TLS."""
    args: dict[str, Any] = {"host": target.address, "port": target.port, "proxy": None}
    if target.scheme in ("wss", "https"):
        args["server_hostname"] = target.host
        args["ssl"] = tls_context()
    return args
