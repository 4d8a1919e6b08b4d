"""The in-process backend (the embedded default): `SlotPool` wraps a `FairPool` for asyncio with a
bounded wait per request, and `MemoryBackend` gives the node's call leases and pools the `Backend`
interface that the Redis backend shares.
"""

import asyncio
import collections
import itertools
import time

from voicegrid.capacity.backend import PoolSpec, PoolUsage, Slot
from voicegrid.capacity.errors import CapacityError, SlotUnavailable
from voicegrid.capacity.fair import FairPool
from voicegrid.capacity.leases import CallLeases, Lease, Limit, Refusal


class SlotPool:
    def __init__(self, name: str, pool: FairPool) -> None:
        self.name = name
        self.pool = pool
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._tickets = itertools.count()
        self._granted_late: set[int] = set()
        self.timeouts = 0

    def _wake(self, granted: list[tuple[str, object]]) -> None:
        # A waiter's ticket is withdrawn from the pool (cancel) in the same step that drops its
        # future, so every grant finds its future. One whose wait has just been cut short (the
        # timeout cancelled the future, the waiter has not run yet) is noted, and the waiter keeps it.
        for _, ticket in granted:
            future = self._waiting.pop(ticket, None)  # type: ignore[call-overload]
            if future is not None and not future.done():
                future.set_result(None)
            elif future is not None:
                self._granted_late.add(ticket)  # type: ignore[arg-type]

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
            if self._was_granted(ticket, future):  # granted in the same instant as the timeout: keep it
                return
            self.timeouts += 1
            self._wake(self.pool.cancel(ticket))
            raise SlotUnavailable(self.name, tenant, time.monotonic() - started) from None
        except asyncio.CancelledError:
            self._waiting.pop(ticket, None)
            if self._was_granted(ticket, future):
                self._wake(self.pool.release(tenant))
            else:
                self._wake(self.pool.cancel(ticket))
            raise

    def _was_granted(self, ticket: int, future: "asyncio.Future[None]") -> bool:
        late = ticket in self._granted_late
        self._granted_late.discard(ticket)
        return late or _granted(future)

    def release(self, tenant: str) -> None:
        self._wake(self.pool.release(tenant))

    def reconfigure(self, spec: PoolSpec) -> None:
        self._wake(self.pool.reconfigure(spec.capacity, spec.weights, spec.minimums))


def _granted(future: "asyncio.Future[None]") -> bool:
    # awaiting a future inside a timeout cancels the future itself when time runs out
    return future.done() and not future.cancelled()


class MemoryBackend:
    """One process's counters: exact and instant, and gone with the process (so no TTL is needed)."""

    name = "memory"

    def __init__(self, retry_after_s: int = 5) -> None:
        self.leases = CallLeases(retry_after_s=retry_after_s)
        self.pools: dict[str, SlotPool] = {}
        self._tickets = itertools.count(1)
        self._events: dict[str, collections.deque[float]] = {}
        self._totals: dict[str, tuple[float, float]] = {}  # key -> (total, expires at)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def admit(self, limits: list[Limit], direction: str) -> Lease | Refusal:
        return self.leases.admit(limits, direction, time.monotonic())

    async def release(self, lease: Lease) -> None:
        self.leases.release(lease)

    async def count(self, key: str) -> int:
        return self.leases.count(key, time.monotonic())

    async def configure(self, spec: PoolSpec) -> None:
        pool = self.pools.get(spec.name)
        if pool is None:
            self.pools[spec.name] = SlotPool(
                spec.name,
                FairPool(spec.capacity, dict(spec.weights), dict(spec.minimums), spec.default_weight),
            )
        else:
            pool.reconfigure(spec)

    def _pool(self, name: str) -> SlotPool:
        pool = self.pools.get(name)
        if pool is None:
            raise CapacityError(f"no pool {name!r}: configure it first")
        return pool

    async def acquire_slot(self, pool: str, tenant: str, wait_s: float) -> Slot:
        await self._pool(pool).acquire(tenant, wait_s)
        return Slot(pool, tenant, str(next(self._tickets)))

    async def release_slot(self, slot: Slot) -> None:
        self._pool(slot.pool).release(slot.tenant)

    async def usage(self, pool: str) -> PoolUsage:
        fair = self._pool(pool).pool
        return PoolUsage(fair.capacity, {t: n for t, n in fair.in_use.items() if n}, fair.waiting_by_tenant())

    async def rate(self, key: str, limit: float, window_s: float = 1.0) -> bool:
        now = time.monotonic()
        events = self._events.setdefault(key, collections.deque())
        while events and events[0] <= now - window_s:
            events.popleft()
        if len(events) >= limit:
            return False
        events.append(now)
        return True

    async def add(self, key: str, amount: float, expires_at: float) -> float:
        total = await self.total(key) + amount
        self._totals[key] = (total, expires_at)
        return total

    def reset_totals(self) -> None:
        self._totals.clear()

    async def total(self, key: str) -> float:
        total, expires_at = self._totals.get(key, (0.0, 0.0))
        if expires_at <= time.time():
            self._totals.pop(key, None)
            return 0.0
        return total
