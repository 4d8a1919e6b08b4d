"""The node's HTTP front: probes answered while the REST API loads, other requests served once it is."""

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from voicegrid.http_front import Asgi, HttpFront, Message, ProtocolFactory, Receive, Scope, Send


async def _api(scope: Scope, receive: Receive, send: Send) -> None:
    """The loaded API, as far as these tests care: it answers every path with its own body."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"api {scope['path']}".encode()})


class _Protocol(asyncio.Protocol):
    def __init__(self, name: str, **uvicorn: Any) -> None:
        self.name, self.uvicorn = name, uvicorn


def _protocols(name: str) -> ProtocolFactory:
    return lambda **uvicorn: _Protocol(name, **uvicorn)


def _front(reason: str | None = None, wait_s: float = 30.0, max_waiting: int = 256) -> HttpFront:
    async def unready() -> str | None:
        return reason

    return HttpFront(unready, _protocols("uvicorn's own"), wait_s=wait_s, max_waiting=max_waiting)


def _gated(gate: threading.Event) -> Callable[[], tuple[Asgi, ProtocolFactory | None]]:
    def build() -> tuple[Asgi, ProtocolFactory | None]:
        if not gate.wait(10):
            raise RuntimeError("the test never opened the gate")
        return _api, _protocols("carrier fast path")

    return build


@contextlib.asynccontextmanager
async def _loading(front: HttpFront) -> AsyncIterator[threading.Event]:
    """The front loading its API in the background until the test sets the gate it is given (and
    at the block's end in any case, waiting for the load to finish)."""
    gate = threading.Event()
    loading = asyncio.create_task(front.load(_gated(gate)))
    try:
        yield gate
    finally:
        gate.set()
        await loading


def _client(front: HttpFront) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=front), base_url="http://node")


async def test_probes_are_answered_while_the_api_loads_and_other_requests_are_served_once_it_is() -> None:
    front = _front()
    async with _loading(front) as gate, _client(front) as client:
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        waiting = asyncio.create_task(client.get("/v1/agents"))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # held for the API, not refused
        gate.set()
        await front.loaded.wait()
        served = await waiting
        assert (served.status_code, served.text) == (200, "api /v1/agents")
        assert (await client.get("/readyz")).text == "api /readyz"  # the API's own probe from now on


async def test_a_request_that_waits_longer_than_its_bound_gets_503_and_when_to_retry() -> None:
    front = _front(wait_s=0.05)
    async with _loading(front), _client(front) as client:
        refused = await client.get("/v1/agents")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {"detail": "the REST API is still loading"}


async def test_a_node_that_cannot_serve_says_why_before_its_api_is_loaded() -> None:
    front = _front(reason="the database at sqlite:///x does not answer")
    async with _client(front) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reason": "the database at sqlite:///x does not answer"}


async def test_an_api_that_fails_to_load_is_named_by_the_probe_and_by_every_request() -> None:
    def broken() -> tuple[Asgi, ProtocolFactory | None]:
        raise ImportError("no module named fastapi")

    front = _front()
    await front.load(broken)
    async with _client(front) as client:
        ready, other = await client.get("/readyz"), await client.get("/v1/me")
        alive = await client.get("/healthz")
    assert ready.status_code == other.status_code == 503
    assert "no module named fastapi" in ready.json()["reason"]
    assert "no module named fastapi" in other.json()["detail"]
    assert alive.status_code == 200  # the process itself is up


async def test_websockets_take_uvicorns_protocol_until_the_api_brings_the_carriers_fast_path() -> None:
    front = _front(wait_s=0.05)
    async with _loading(front) as gate:
        early = front.ws_protocol(config="c")
        assert isinstance(early, _Protocol)
        assert (early.name, early.uvicorn) == ("uvicorn's own", {"config": "c"})
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "websocket.connect"}

        async def send(message: Message) -> None:
            sent.append(message)

        await front({"type": "websocket", "path": "/v1/talk"}, receive, send)
        assert sent == [{"type": "websocket.close", "code": 1013}]  # try again later, not held open
        gate.set()
        await front.loaded.wait()
        late = front.ws_protocol(config="c")
        assert isinstance(late, _Protocol)
        assert late.name == "carrier fast path"


async def test_the_server_s_lifespan_starts_and_stops_without_the_api() -> None:
    front = _front()
    messages = asyncio.Queue[Message]()
    for kind in ("lifespan.startup", "lifespan.shutdown"):
        messages.put_nowait({"type": kind})
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(front({"type": "lifespan"}, messages.get, send), 5)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


async def test_past_the_cap_of_waiting_requests_a_request_is_refused_at_once_not_held() -> None:
    front = _front(max_waiting=2)
    async with _loading(front) as gate, _client(front) as client:
        held = [asyncio.create_task(client.get(f"/v1/agents/{i}")) for i in range(2)]
        await asyncio.sleep(0.1)  # both are in, held for the API
        assert front.waiting == 2
        refused = await client.get("/v1/agents/3")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        gate.set()
        assert [(await r).text for r in held] == ["api /v1/agents/0", "api /v1/agents/1"]
    assert front.waiting == 0
