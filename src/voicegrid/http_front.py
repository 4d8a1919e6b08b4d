"""The node's HTTP front: health probes at once, the REST API once it is loaded.

A node takes calls as soon as its SIP stack and database answer. The REST API (FastAPI, its routes
and their pydantic models: about a second of CPU and most of the start's imports) is loaded after
that, in a thread, while the node already serves. Until it is there:

- `/healthz` and `/readyz` are answered here, as the API answers them (`services.unready_reason`);
- any other request waits for the API, at most `wait_s`, then gets 503 with Retry-After; at most
  `max_waiting` wait at once (what a stranger can make the node hold while it loads), and past that
  a request gets the 503 at once;
- a WebSocket upgrade takes uvicorn's own protocol (carriers' media streams then go through the API's
  ASGI routes, slower, not refused); once loaded, carrier paths take the fast protocol (`ws_protocol`).

If loading fails, every request but the probes gets 503 naming why, and /readyz says so too.
"""

import asyncio
import gc
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]
ProtocolFactory = Callable[..., asyncio.BaseProtocol]
PROBES = frozenset({"/healthz", "/readyz"})


class HttpFront:
    def __init__(
        self,
        unready: Callable[[], Awaitable[str | None]],
        fallback_ws: ProtocolFactory,
        *,
        wait_s: float = 30.0,
        max_waiting: int = 256,
    ) -> None:
        self.unready = unready  # why the node cannot serve, or None (what /readyz answers)
        self.fallback_ws = fallback_ws  # uvicorn's own WebSocket protocol, until the API is loaded
        self.wait_s = wait_s
        self.max_waiting = max_waiting
        self.waiting = 0
        self.api: Asgi | None = None
        self.upgrade: ProtocolFactory | None = None  # the carrier sockets' protocol, loaded with the API
        self.failed: str | None = None
        self.loaded = asyncio.Event()  # set when loading ended, either way

    async def load(self, build: Callable[[], tuple[Asgi, ProtocolFactory | None]]) -> None:
        """Build the API in a thread (its imports interleave with the loop's work at the GIL's switch
        interval, never blocking it for the whole second), then serve it."""
        try:
            api, upgrade = await asyncio.to_thread(build)
        except Exception as exc:  # the probes go on; everything else says why
            log.exception("the REST API could not be loaded")
            self.failed = f"the REST API could not be loaded: {exc}"
        else:
            self.api, self.upgrade = api, upgrade
            # what the import left is kept out of every later collection, as at start (process.tune_gc)
            gc.freeze()
        finally:
            self.loaded.set()

    def ws_protocol(self, **uvicorn: Any) -> asyncio.BaseProtocol:
        """uvicorn's `ws` setting: a protocol for each upgrading connection."""
        return (self.upgrade or self.fallback_ws)(**uvicorn)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        probe = scope["type"] == "http" and scope["path"] in PROBES
        if self.api is None and not probe and not self.loaded.is_set() and self.waiting < self.max_waiting:
            self.waiting += 1
            try:
                async with asyncio.timeout(self.wait_s):
                    await self.loaded.wait()
            except TimeoutError:
                pass
            finally:
                self.waiting -= 1
        if self.api is not None:
            await self.api(scope, receive, send)
        elif probe:
            await self._probe(scope["path"], send)
        elif scope["type"] == "http":
            reason = self.failed or "the REST API is still loading"
            await _json(send, 503, {"detail": reason}, retry_after=True)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1013})  # try again later

    async def _probe(self, path: str, send: Send) -> None:
        if path == "/healthz":
            await _json(send, 200, {"status": "ok"})
            return
        reason = self.failed or await self.unready()
        if reason is None:
            await _json(send, 200, {"status": "ok"})
        else:
            await _json(send, 503, {"status": "unavailable", "reason": reason})


async def _lifespan(receive: Receive, send: Send) -> None:
    """The API has no start-up or shutdown work of its own: the platform's parts are started and
    stopped by `server.serve`."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _json(send: Send, status: int, body: dict[str, Any], *, retry_after: bool = False) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
