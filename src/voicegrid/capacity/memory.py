"""The in-process backend: `SlotPool` wraps a `FairPool` for asyncio, with a bounded wait per request."""

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

from voicegrid.capacity.errors import SlotUnavailable
from voicegrid.capacity.fair import FairPool


class SlotPool:
    def __init__(self, name: str, pool: FairPool) -> None:
        self.name = name
        self.pool = pool
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._tickets = itertools.count()
        self.timeouts = 0

    def _wake(self, granted: list[tuple[str, object]]) -> None:
        # A grant always finds its future: a waiter's ticket is withdrawn from the pool (cancel)
        # in the same step that drops its future, so no slot is granted to nobody.
        for _, ticket in granted:
            future = self._waiting.pop(ticket, None)  # type: ignore[call-overload]
            if future is not None and not future.done():
                future.set_result(None)

    async def acquire(self, tenant: str, wait_s: float) -> None:
        """Hold a slot, waiting at most `wait_s`; raises SlotUnavailable after that."""
        ticket = next(self._tickets)
        if self.pool.acquire(tenant, ticket):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[ticket] = future
        started = time.monotonic()
        try:
            async with asyncio.timeout(wait_s):
                await future
        except TimeoutError:
            self._waiting.pop(ticket, None)
            if _granted(future):  # granted in the same instant as the timeout: keep it
                return
            self.timeouts += 1
            self._wake(self.pool.cancel(ticket))
            raise SlotUnavailable(self.name, tenant, time.monotonic() - started) from None
        except asyncio.CancelledError:
            self._waiting.pop(ticket, None)
            if _granted(future):
                self._wake(self.pool.release(tenant))
            else:
                self._wake(self.pool.cancel(ticket))
            raise

    def release(self, tenant: str) -> None:
        self._wake(self.pool.release(tenant))

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str, wait_s: float) -> AsyncIterator[None]:
        await self.acquire(tenant, wait_s)
        try:
            yield
        finally:
            self.release(tenant)


def _granted(future: "asyncio.Future[None]") -> bool:
    # awaiting a future inside a timeout cancels the future itself when time runs out
    return future.done() and not future.cancelled()
