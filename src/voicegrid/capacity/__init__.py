"""Capacity and admission control: who may start a call or a provider request, on one node or many.

Public surface: the `Backend` interface (`backend.py`) with `PoolSpec`, `Slot` and `PoolUsage`; call
`Lease`s, `Limit`s and `Refusal`s (`leases.py`); the in-process `MemoryBackend`; the errors. Import by
path what is heavier or optional: `shared.RedisBackend` and `resilient.ResilientBackend` (Redis),
`queue.OutboundQueue`, `metrics.CapacityMetrics`, `planning` (Erlang B and C, `voicegrid plan`), and
the sans-I/O `fair.FairPool` under both backends.
"""

from voicegrid.capacity.backend import Backend, PoolSpec, PoolUsage, Slot
from voicegrid.capacity.errors import CapacityError, OverLimit, SlotUnavailable
from voicegrid.capacity.leases import Lease, Limit, Refusal
from voicegrid.capacity.memory import MemoryBackend

__all__ = [
    "Backend",
    "CapacityError",
    "Lease",
    "Limit",
    "MemoryBackend",
    "OverLimit",
    "PoolSpec",
    "PoolUsage",
    "Refusal",
    "Slot",
    "SlotUnavailable",
]
