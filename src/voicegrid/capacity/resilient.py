"""Redis with a local fallback: when Redis cannot be reached, this node keeps taking calls within its
configured fraction of each limit, says so, and hands what it admitted meanwhile back to Redis when
Redis answers again.

- Degraded: the first Redis failure (a timeout, a refused connection) switches every decision to an
  in-process backend whose limits and pools are `fraction` of the real ones. A warning is logged
  and `degraded` is exposed (metrics and /health).
- Reconciling: a probe pings Redis every `probe_s`. When it answers, the calls admitted locally are
  counted in Redis (whatever the limit says: they are up), the pools are configured again, and new
  decisions go to Redis. Slots held locally are short and simply drain.
- A lease Redis could not be told about at hangup is no longer renewed, so it expires within the TTL.
- A request Redis did not answer may still run there (a frozen server wakes and runs what it was
  sent); those are undone before anything else when Redis answers again.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from voicegrid.capacity.backend import PoolSpec, PoolUsage, Slot
from voicegrid.capacity.leases import Lease, Limit, Refusal
from voicegrid.capacity.memory import MemoryBackend

if TYPE_CHECKING:  # the Redis client loads only on a node that is given a Redis
    from voicegrid.capacity.shared import RedisBackend

log = logging.getLogger(__name__)
T = TypeVar("T")


def scaled(maximum: int | None, fraction: float) -> int | None:
    return None if maximum is None else math.floor(maximum * fraction)


class ResilientBackend:
    name = "redis"

    def __init__(self, shared: "RedisBackend", fraction: float = 0.5, probe_s: float = 1.0) -> None:
        from voicegrid.capacity.shared import UNANSWERED

        self.unreachable = UNANSWERED
        if not 0 <= fraction <= 1:
            raise ValueError("the fallback fraction is between 0 and 1")
        self.shared, self.fraction, self.probe_s = shared, fraction, probe_s
        self.local = MemoryBackend(retry_after_s=shared.retry_after_s)
        self.specs: dict[str, PoolSpec] = {}
        self._local_leases: dict[str, tuple[Lease, Lease]] = {}  # our id -> (ours, the memory one)
        self._local_slots: set[str] = set()
        self.degraded_since: float | None = None
        self.outages = 0
        self._probe: asyncio.Task[None] | None = None
        self._pending_totals: list[tuple[str, float, float]] = []
        self._last_totals: dict[str, float] = {}  # Redis's totals as last read, for the outage

    @property
    def degraded(self) -> bool:
        return self.degraded_since is not None

    async def start(self) -> None:
        try:
            await self.shared.start()
        except self.unreachable as exc:
            await self._degrade(exc)

    async def aclose(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self.shared.aclose()

    # ---- switching -------------------------------------------------------------------------------
    async def _degrade(self, exc: BaseException) -> None:
        if self.degraded:
            return
        self.degraded_since = time.monotonic()
        self.outages += 1
        log.warning(
            "capacity: Redis unreachable (%s); this node now admits within %.0f%% of each limit",
            exc or type(exc).__name__,
            self.fraction * 100,
        )
        for spec in self.specs.values():
            await self.local.configure(self._local_spec(spec))
        self._probe = asyncio.create_task(self._reconnect(), name="capacity-probe")

    def _local_spec(self, spec: PoolSpec) -> PoolSpec:
        capacity = max(1, math.floor(spec.capacity * self.fraction)) if spec.capacity else 0
        minimums = {t: math.floor(m * self.fraction) for t, m in spec.minimums.items()}
        return PoolSpec(spec.name, capacity, spec.weights, minimums, spec.default_weight)

    async def _reconnect(self) -> None:
        while True:
            await asyncio.sleep(self.probe_s)
            try:
                await self.shared.ping()
                if not self.shared._tasks:
                    await self.shared.start()
                await self.shared.undo_uncertain()
                for spec in self.specs.values():
                    await self.shared.configure(spec)
                while self._pending_totals:
                    await self.shared.add(*self._pending_totals[0])
                    self._pending_totals.pop(0)
                self.local.reset_totals()
                for lease, inner in list(self._local_leases.values()):
                    await self.shared.adopt(lease)
                    del self._local_leases[lease.id]
                    await self.local.release(inner)
            except self.unreachable:
                continue
            log.warning(
                "capacity: Redis is back after %.1f s; local admissions handed over",
                time.monotonic() - (self.degraded_since or 0),
            )
            self.degraded_since = None
            self._probe = None
            return

    async def _on_shared(self, call: Callable[[], Awaitable[T]]) -> T | None:
        """Redis's answer, or None when Redis is away (already, or from this call on)."""
        if self.degraded:
            return None
        try:
            return await call()
        except self.unreachable as exc:
            await self._degrade(exc)
            return None

    # ---- Backend ---------------------------------------------------------------------------------
    async def admit(self, limits: list[Limit], direction: str) -> Lease | Refusal:
        shared = await self._on_shared(lambda: self.shared.admit(limits, direction))
        if shared is not None:
            return shared
        local = [
            Limit(limit.key, scaled(limit.maximum, self.fraction), limit.label, limit.reserve_inbound)
            for limit in limits
        ]
        answer = await self.local.admit(local, direction)
        if isinstance(answer, Refusal):
            return Refusal(
                f"{answer.limit} (degraded: {self.fraction:.0%} of it on this node)", answer.retry_after_s
            )
        lease = Lease(f"{self.shared.node}:local:{answer.id}", answer.keys, answer.direction)
        self._local_leases[lease.id] = (lease, answer)
        return lease

    async def release(self, lease: Lease) -> None:
        local = self._local_leases.pop(lease.id, None)
        if local is not None:
            await self.local.release(local[1])
            return
        # Redis away: the lease is no longer renewed (forgotten here first), so it expires in the TTL.
        self.shared.leases.pop(lease.id, None)
        await self._on_shared(lambda: self.shared.release(lease))

    async def count(self, key: str) -> int:
        shared = await self._on_shared(lambda: self.shared.count(key))
        return shared if shared is not None else await self.local.count(key)

    async def configure(self, spec: PoolSpec) -> None:
        self.specs[spec.name] = spec
        await self.local.configure(self._local_spec(spec))
        await self._on_shared(lambda: self.shared.configure(spec))  # else when Redis returns

    async def acquire_slot(self, pool: str, tenant: str, wait_s: float) -> Slot:
        shared = await self._on_shared(lambda: self.shared.acquire_slot(pool, tenant, wait_s))
        if shared is not None:
            return shared
        slot = await self.local.acquire_slot(pool, tenant, wait_s)
        slot = Slot(slot.pool, slot.tenant, f"local:{slot.ticket}")
        self._local_slots.add(slot.ticket)
        return slot

    async def release_slot(self, slot: Slot) -> None:
        if slot.ticket in self._local_slots:
            self._local_slots.discard(slot.ticket)
            await self.local.release_slot(slot)
            return
        self.shared.slots.pop(slot.ticket, None)
        await self._on_shared(lambda: self.shared.release_slot(slot))

    async def rate(self, key: str, limit: float, window_s: float = 1.0) -> bool:
        shared = await self._on_shared(lambda: self.shared.rate(key, limit, window_s))
        return shared if shared is not None else await self.local.rate(key, limit * self.fraction, window_s)

    async def add(self, key: str, amount: float, expires_at: float) -> float:
        shared = await self._on_shared(lambda: self.shared.add(key, amount, expires_at))
        if shared is not None:
            self._last_totals[key] = shared
            return shared
        self._pending_totals.append((key, amount, expires_at))  # added to Redis when it returns
        return self._last_totals.get(key, 0.0) + await self.local.add(key, amount, expires_at)

    async def total(self, key: str) -> float:
        shared = await self._on_shared(lambda: self.shared.total(key))
        if shared is not None:
            self._last_totals[key] = shared
            return shared
        return self._last_totals.get(key, 0.0) + await self.local.total(key)

    async def usage(self, pool: str) -> PoolUsage:
        shared = await self._on_shared(lambda: self.shared.usage(pool))
        return shared if shared is not None else await self.local.usage(pool)
