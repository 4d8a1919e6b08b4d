"""What every emulator shares: a Starlette app served by uvicorn on loopback, latency and faults."""

import asyncio
import contextlib
import random
import socket
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from voicegrid.providers.base import sample_latency_s

FAULTS = ("none", "401", "429", "500", "disconnect", "slow")


@dataclass
class Faults:
    """A fault to inject: on the first `count` requests (all when None), then healthy."""

    mode: str = "none"  # one of FAULTS
    count: int | None = None
    slow_s: float = 30.0  # how long "slow" waits before its first byte
    seen: int = 0

    def next(self) -> str:
        """The fault for the request arriving now."""
        self.seen += 1
        if self.mode == "none" or (self.count is not None and self.seen > self.count):
            return "none"
        return self.mode


@dataclass
class Latency:
    first_byte_ms: float = 0.0
    jitter_ms: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def sample_s(self) -> float:
        options = {"first_byte_ms": self.first_byte_ms, "first_byte_jitter_ms": self.jitter_ms}
        return sample_latency_s(options, "first_byte", self.first_byte_ms, self.rng)


class Emulator:
    """Subclasses fill `self.app` with routes; `start()` serves it on 127.0.0.1."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        faults: Faults | None = None,
        first_byte_ms: float = 0.0,
        jitter_ms: float = 0.0,
        script: list[Any] | None = None,
        loop_script: bool = False,
    ) -> None:
        self.api_key = api_key
        self.loop_script = loop_script  # a load test's endless callers: the script starts over
        self.faults = faults or Faults()
        self.latency = Latency(first_byte_ms, jitter_ms)
        self.script = list(script or [])
        self.app = Starlette()
        self.requests = 0
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", ws="websockets-sansio")
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                async with asyncio.timeout(5):
                    await self._task

    async def __aenter__(self) -> "Emulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- helpers for subclasses ------------------------------------------------------------------
    def next_line(self, default: Any) -> Any:
        if not self.script:
            return default
        line = self.script.pop(0)
        if self.loop_script:
            self.script.append(line)
        return line

    def http_fault(self, fault: str) -> Response | None:
        if fault in ("401", "429", "500"):
            status = int(fault)
            return JSONResponse(
                {"error": {"message": f"emulated {status}", "code": status}},
                status_code=status,
                headers={"Retry-After": "1"} if status == 429 else None,
            )
        return None

    async def ws_refuse(self, websocket: WebSocket, fault: str, key_ok: bool) -> bool:
        """Refuse the handshake as the vendor would (HTTP status before the upgrade); True if refused."""
        status = 401 if not key_ok else (int(fault) if fault in ("401", "429", "500") else 0)
        if not status:
            return False
        await websocket.send_denial_response(
            JSONResponse({"err_code": str(status), "err_msg": f"emulated {status}"}, status_code=status)
        )
        return True

    async def first_byte(self, fault: str) -> None:
        await asyncio.sleep(self.faults.slow_s if fault == "slow" else self.latency.sample_s())
