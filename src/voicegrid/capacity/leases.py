"""Concurrent-call leases (sans-I/O): a call holds one lease on each limit it counts against.

A lease names the counters it holds (the business's, its reseller's), is refused atomically when any
of them is full, and is given back at hangup. With a `ttl_s`, a lease that is not renewed expires:
a node that died frees its calls' slots within the TTL (the shared backend relies on that; in one
process the TTL can be off).
"""

import itertools
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    id: str
    keys: tuple[str, ...]
    direction: str


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: str  # which limit was full, e.g. "business biz_123 max_concurrent_calls=2"
    retry_after_s: int
    reason: str = "concurrent_calls"  # for metrics: concurrent_calls, outbound_cps, monthly_minutes
    queueable: bool = True  # worth waiting for (a call ends, a second passes); not a spent month


@dataclass(frozen=True, slots=True)
class Limit:
    key: str  # the counter, e.g. "business:biz_123"
    maximum: int | None  # None: unlimited
    label: str = ""
    reserve_inbound: int = 0  # of the maximum, this many are kept for inbound calls

    def allows(self, direction: str) -> int | None:
        """The most calls this direction may find in use and still be admitted (None: no limit)."""
        if self.maximum is None:
            return None
        return self.maximum - self.reserve_inbound if direction == "outbound" else self.maximum

    def refusal_label(self) -> str:
        return self.label or f"{self.key} max={self.maximum}"


class CallLeases:
    def __init__(self, ttl_s: float | None = None, retry_after_s: int = 5) -> None:
        self.ttl_s = ttl_s
        self.retry_after_s = retry_after_s
        self._held: dict[str, dict[str, float]] = {}  # key -> lease id -> expiry (inf without TTL)
        self._ids = itertools.count(1)
        self.admitted = 0
        self.refused = 0

    def count(self, key: str, now: float) -> int:
        self._expire(key, now)
        return len(self._held.get(key, {}))

    def admit(self, limits: list[Limit], direction: str, now: float) -> Lease | Refusal:
        for limit in limits:
            allowed = limit.allows(direction)
            if allowed is not None and self.count(limit.key, now) >= allowed:
                self.refused += 1
                return Refusal(limit.refusal_label(), self.retry_after_s)
        lease = Lease(str(next(self._ids)), tuple(limit.key for limit in limits), direction)
        expiry = float("inf") if self.ttl_s is None else now + self.ttl_s
        for key in lease.keys:
            self._held.setdefault(key, {})[lease.id] = expiry
        self.admitted += 1
        return lease

    def renew(self, lease: Lease, now: float) -> bool:
        """Heartbeat: push the lease's expiry out; False if it had already expired."""
        alive = False
        for key in lease.keys:
            held = self._held.get(key, {})
            if lease.id in held and held[lease.id] > now:
                held[lease.id] = float("inf") if self.ttl_s is None else now + self.ttl_s
                alive = True
        return alive

    def release(self, lease: Lease) -> None:
        for key in lease.keys:
            held = self._held.get(key)
            if held is not None:
                held.pop(lease.id, None)
                if not held:
                    del self._held[key]

    def _expire(self, key: str, now: float) -> None:
        held = self._held.get(key)
        if held:
            for lease_id in [i for i, expiry in held.items() if expiry <= now]:
                del held[lease_id]
