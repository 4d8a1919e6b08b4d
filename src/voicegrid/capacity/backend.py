"""What every capacity backend does, in-process or shared through Redis, with the same semantics.

Two kinds of holding:
- a call's `Lease` on the concurrent-call counters it counts against (its business's, its
  reseller's), taken at call start and kept until hangup;
- a `Slot` of a provider account's fair pool (`PoolSpec`), taken per TTS or LLM request and waited
  for at most the caller's bound (`SlotUnavailable` after that).

A backend shared by several nodes gives every holding a TTL that the node's heartbeat renews, so a
node that dies frees what it held within the TTL.
"""

from dataclasses import dataclass, field
from typing import Protocol

from voicegrid.capacity.leases import Lease, Limit, Refusal


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """One provider account's pool: its capacity, and the tenants' weights and guaranteed minimums."""

    name: str
    capacity: int
    weights: dict[str, float] = field(default_factory=dict)
    minimums: dict[str, int] = field(default_factory=dict)
    default_weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Slot:
    pool: str
    tenant: str
    ticket: str


@dataclass(frozen=True, slots=True)
class PoolUsage:
    capacity: int
    in_use: dict[str, int]
    waiting: dict[str, int]


class Backend(Protocol):
    name: str

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def admit(self, limits: list[Limit], direction: str) -> Lease | Refusal: ...

    async def release(self, lease: Lease) -> None: ...

    async def count(self, key: str) -> int: ...

    async def configure(self, spec: PoolSpec) -> None:
        """Create the pool, or change its capacity, weights and minimums (waiters may be granted)."""
        ...

    async def acquire_slot(self, pool: str, tenant: str, wait_s: float) -> Slot: ...

    async def release_slot(self, slot: Slot) -> None: ...

    async def usage(self, pool: str) -> PoolUsage: ...

    async def rate(self, key: str, limit: float, window_s: float = 1.0) -> bool:
        """Take one event of a rate limit (`limit` per sliding `window_s`); False if it is full."""
        ...

    async def add(self, key: str, amount: float, expires_at: float) -> float:
        """Add to a running total (minutes this month) that vanishes at `expires_at` (epoch s)."""
        ...

    async def total(self, key: str) -> float: ...
