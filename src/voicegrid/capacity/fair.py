"""A weighted fair slot pool (sans-I/O): tenants share one provider account's concurrency limit.

Each tenant has a weight (its share of the pool is capacity x weight / total weight) and an optional
guaranteed minimum, which is held free for it while it is below it. Free slots go first to whoever
is furthest below its share (fewest slots in use per unit of weight), FIFO within a tenant; a tenant
may borrow what nobody else is asking for, and gives it back by not getting the next free slot while
others below their share wait. The result is max-min fairness without preemption: a tenant under
its share waits at most for the next release, however hard another bursts.

Pure: `acquire(tenant, ticket)` grants or queues, `release(tenant)` and `cancel(ticket)` return the
tickets granted as a result. The asyncio adapter is `voicegrid.capacity.memory.SlotPool`.
"""

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

from voicegrid.capacity.errors import CapacityError


@dataclass
class FairPool:
    capacity: int
    weights: dict[str, float] = field(default_factory=dict)
    minimums: dict[str, int] = field(default_factory=dict)
    default_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise CapacityError("capacity must not be negative")
        if sum(self.minimums.values()) > self.capacity:
            raise CapacityError("guaranteed minimums exceed the pool")
        self.in_use: dict[str, int] = defaultdict(int)
        self._queues: dict[str, OrderedDict[object, None]] = defaultdict(OrderedDict)
        self._owner: dict[object, str] = {}
        self.granted = 0
        self.released = 0

    # ---- reading ---------------------------------------------------------------------------------
    @property
    def used(self) -> int:
        return sum(self.in_use.values())

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def weight(self, tenant: str) -> float:
        return self.weights.get(tenant, self.default_weight)

    def share(self, tenant: str) -> float:
        total = sum(self.weights.values()) + (0 if tenant in self.weights else self.default_weight)
        return self.capacity * self.weight(tenant) / total

    def _need(self, tenant: str) -> float:
        """How served a tenant is: slots in use per unit of weight (lower is more deserving)."""
        return self.in_use[tenant] / self.weight(tenant)

    def _may_take(self, tenant: str) -> bool:
        free = self.capacity - self.used
        if free <= 0:
            return False
        held_for_others = sum(
            max(0, minimum - self.in_use[other])
            for other, minimum in self.minimums.items()
            if other != tenant
        )
        return free > held_for_others or self.in_use[tenant] < self.minimums.get(tenant, 0)

    # ---- changing --------------------------------------------------------------------------------
    def acquire(self, tenant: str, ticket: object) -> bool:
        """Grant a slot now (True) or queue the ticket (False)."""
        if ticket in self._owner:
            raise CapacityError("ticket already waiting")
        more_deserving = any(
            q and other != tenant and self._need(other) < self._need(tenant) + 1 / self.weight(tenant)
            for other, q in self._queues.items()
        )
        if not self._queues[tenant] and not more_deserving and self._may_take(tenant):
            self._grant(tenant)
            return True
        self._queues[tenant][ticket] = None
        self._owner[ticket] = tenant
        return False

    def release(self, tenant: str) -> list[tuple[str, object]]:
        if self.in_use[tenant] <= 0:
            raise CapacityError(f"{tenant} holds no slot")
        self.in_use[tenant] -= 1
        self.released += 1
        return self._dispatch()

    def cancel(self, ticket: object) -> list[tuple[str, object]]:
        """Withdraw a waiting ticket (a timeout); granting may now move on to others."""
        tenant = self._owner.pop(ticket, None)
        if tenant is not None:
            self._queues[tenant].pop(ticket, None)
        return self._dispatch()

    def reconfigure(
        self, capacity: int, weights: dict[str, float], minimums: dict[str, int]
    ) -> list[tuple[str, object]]:
        """Change the pool in place (an edit, or AIMD's view of the account); returns new grants.

        A smaller capacity takes nothing back: holders keep their slots and the excess drains.
        """
        if capacity < 0:
            raise CapacityError("capacity must not be negative")
        self.capacity, self.weights, self.minimums = capacity, dict(weights), dict(minimums)
        return self._dispatch()

    def waiting_by_tenant(self) -> dict[str, int]:
        return {tenant: len(q) for tenant, q in self._queues.items() if q}

    def _grant(self, tenant: str) -> None:
        self.in_use[tenant] += 1
        self.granted += 1

    def _dispatch(self) -> list[tuple[str, object]]:
        granted: list[tuple[str, object]] = []
        while True:
            candidates = [t for t, q in self._queues.items() if q and self._may_take(t)]
            if not candidates:
                return granted
            tenant = min(candidates, key=self._need)
            ticket, _ = self._queues[tenant].popitem(last=False)
            del self._owner[ticket]
            self._grant(tenant)
            granted.append((tenant, ticket))
