"""Prometheus metrics of admission and gating, on a registry of their own (one per platform).

Per business: calls in use by direction and the limit, rejections by reason, the outbound queue's
length and waits. Per provider account: slots in use per tenant and the limit (as AIMD sees it),
waits for a slot, give-ups and 429-driven decreases. And whether Redis is away (`degraded`).
"""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from voicegrid.capacity.leases import Lease

WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
QUEUE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
ADMISSION_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class CapacityMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls = Gauge(
            "voicegrid_calls_in_use", "Calls holding a lease", ["business", "direction"], registry=r
        )
        self.call_limit = Gauge(
            "voicegrid_calls_limit",
            "A business's max_concurrent_calls (-1: unlimited)",
            ["business"],
            registry=r,
        )
        self.rejections = Counter(
            "voicegrid_admission_rejections",
            "Calls refused by admission",
            ["reason", "direction"],
            registry=r,
        )
        self.queue_length = Gauge(
            "voicegrid_outbound_queue_length", "Outbound calls waiting for capacity", ["business"], registry=r
        )
        self.admission_time = Histogram(
            "voicegrid_admission_seconds",
            "How long deciding a call's admission took (the capacity backend: Redis, or in-process)",
            buckets=ADMISSION_BUCKETS,
            registry=r,
        )
        self.queue_waits = Histogram(
            "voicegrid_outbound_queue_wait_seconds",
            "Wait of queued outbound calls",
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.slots = Gauge(
            "voicegrid_provider_slots_in_use",
            "Provider slots held by this node",
            ["account", "tenant"],
            registry=r,
        )
        self.slot_limit = Gauge(
            "voicegrid_provider_slots_limit",
            "A provider account's slots, as AIMD sees them",
            ["account"],
            registry=r,
        )
        self.slot_waits = Histogram(
            "voicegrid_provider_slot_wait_seconds",
            "Wait for a provider slot",
            ["account"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.slot_timeouts = Counter(
            "voicegrid_provider_slot_timeouts",
            "Requests that moved on without a slot",
            ["account"],
            registry=r,
        )
        self.throttles = Counter(
            "voicegrid_provider_throttles", "429s that shrank an account's slots", ["account"], registry=r
        )
        self.degraded = Gauge(
            "voicegrid_capacity_degraded", "1 while the shared backend is unreachable", registry=r
        )

    # ---- calls -----------------------------------------------------------------------------------
    def admitted(self, business: str, direction: str, limit: int | None) -> None:
        self.calls.labels(business, direction).inc()
        self.call_limit.labels(business).set(-1 if limit is None else limit)

    def released(self, lease: Lease) -> None:
        business = lease.keys[0].split(":", 1)[1] if lease.keys else ""
        self.calls.labels(business, lease.direction).dec()

    def rejected(self, reason: str, direction: str) -> None:
        self.rejections.labels(reason, direction).inc()

    def queued(self, business: str, delta: int) -> None:
        self.queue_length.labels(business).inc(delta)

    def queue_wait(self, seconds: float) -> None:
        self.queue_waits.observe(seconds)

    # ---- provider slots --------------------------------------------------------------------------
    def slot_taken(self, account: str, tenant: str, waited_s: float) -> None:
        self.slots.labels(account, tenant).inc()
        self.slot_waits.labels(account).observe(waited_s)

    def slot_released(self, account: str, tenant: str) -> None:
        self.slots.labels(account, tenant).dec()

    def slot_timeout(self, account: str) -> None:
        self.slot_timeouts.labels(account).inc()

    def capacity(self, account: str, slots: int) -> None:
        self.slot_limit.labels(account).set(slots)

    def throttled(self, account: str) -> None:
        self.throttles.labels(account).inc()

    def watch_degraded(self, degraded: Callable[[], bool]) -> None:
        self.degraded.set_function(lambda: 1.0 if degraded() else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
