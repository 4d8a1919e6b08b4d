"""Admission of one call, in or out: its business's and reseller's limits, on whichever backend.

In order: the month's minutes (not worth queueing for), outbound calls per second, then one lease on
the concurrent-call counters (with the inbound headroom reserved). The lease is given back at
hangup, and the call's minutes (admission to hangup) are added to the month.
"""

import asyncio
import calendar
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from voicegrid.capacity.backend import Backend
from voicegrid.capacity.errors import OverLimit
from voicegrid.capacity.leases import Lease, Limit, Refusal
from voicegrid.capacity.metrics import CapacityMetrics
from voicegrid.capacity.queue import OutboundQueue
from voicegrid.providers.errors import ProviderError
from voicegrid.store.models import Business, Reseller

log = logging.getLogger(__name__)


def call_limits(business: Business, reseller: Reseller | None) -> list[Limit]:
    """The concurrent-call counters a business's call counts against: its own and its reseller's."""
    limits = [
        Limit(
            f"business:{business.id}",
            business.max_concurrent_calls,
            f"business max_concurrent_calls={business.max_concurrent_calls}",
            business.reserved_inbound_calls or 0,
        )
    ]
    if reseller is not None:
        limits.append(
            Limit(
                f"reseller:{reseller.id}",
                reseller.max_concurrent_calls,
                f"reseller max_concurrent_calls={reseller.max_concurrent_calls}",
                reseller.reserved_inbound_calls or 0,
            )
        )
    return limits


def month_key(business_id: str, now: datetime) -> tuple[str, float]:
    """The month's minutes counter and when it lapses (a few days after the month, for late calls)."""
    days = calendar.monthrange(now.year, now.month)[1]
    end = datetime(now.year, now.month, days, tzinfo=UTC).timestamp() + 86400 * 4
    return f"minutes:{business_id}:{now:%Y-%m}", end


class Admission:
    def __init__(self, backend: Backend, metrics: CapacityMetrics | None = None) -> None:
        self.backend = backend
        self.metrics = metrics or CapacityMetrics()
        self.queue = OutboundQueue(self.release)
        self._started: dict[str, tuple[float, str]] = {}  # lease id -> (monotonic start, business id)
        self._held: dict[str, Callable[[], Awaitable[None]]] = {}  # lease id -> give back the stack's
        self._tasks: set[asyncio.Task[None]] = set()

    async def usage(self, business_id: str, timeout_s: float = 1.0) -> tuple[int, float] | None:
        """Calls the business has up now and its minutes this month; None if the backend is slow."""
        key, _ = month_key(business_id, datetime.now(UTC))
        try:
            async with asyncio.timeout(timeout_s):
                return await self.backend.count(f"business:{business_id}"), await self.backend.total(key)
        except TimeoutError:
            return None

    async def admit(self, business: Business, reseller: Reseller | None, direction: str) -> Lease | Refusal:
        started = time.perf_counter()
        answer = await self._attempt(business, reseller, direction)
        self.metrics.admission_time.observe(time.perf_counter() - started)
        if isinstance(answer, Refusal):
            self.metrics.rejected(answer.reason, direction)
        return answer

    async def _attempt(
        self, business: Business, reseller: Reseller | None, direction: str
    ) -> Lease | Refusal:
        answer = await self._admit(business, reseller, direction)
        if isinstance(answer, Lease):
            self._started[answer.id] = (time.monotonic(), business.id)
            self.metrics.admitted(business.id, direction, business.max_concurrent_calls)
        return answer

    async def _admit(self, business: Business, reseller: Reseller | None, direction: str) -> Lease | Refusal:
        if business.monthly_minutes is not None:
            key, _ = month_key(business.id, datetime.now(UTC))
            used = await self.backend.total(key)
            if used >= business.monthly_minutes:
                return Refusal(
                    f"business monthly_minutes={business.monthly_minutes}",
                    3600,
                    reason="monthly_minutes",
                    queueable=False,
                )
        cps = business.max_outbound_cps
        if (
            direction == "outbound"
            and cps is not None
            and not await self.backend.rate(f"cps:business:{business.id}", cps)
        ):
            return Refusal(
                f"business max_outbound_cps={business.max_outbound_cps:g}", 1, reason="outbound_cps"
            )
        return await self.backend.admit(call_limits(business, reseller), direction)

    async def wait_in_queue(
        self, business: Business, reseller: Reseller | None, refusal: Refusal, deadline_s: float
    ) -> Lease:
        """An outbound call refused now: its lease when its turn and a slot come, else OverLimit."""
        self.metrics.queued(business.id, +1)
        queued_at = time.monotonic()
        try:
            lease = await self.queue.wait(
                business.id, lambda: self._attempt(business, reseller, "outbound"), refusal, deadline_s
            )
        except OverLimit:
            self.metrics.rejected("queue_deadline", "outbound")
            raise
        finally:
            self.metrics.queued(business.id, -1)
        self.metrics.queue_wait(time.monotonic() - queued_at)
        return lease

    async def reserve_stack(
        self,
        lease: Lease,
        reserve: Callable[[], Awaitable[ProviderError | None]],
        unreserve: Callable[[], Awaitable[None]],
        direction: str,
    ) -> Refusal | None:
        """What the agent's stack holds for the whole call (its STT stream's slot), taken now; when
        no STT provider of the agent has room, the call is refused and its lease given back."""
        busy = await reserve()
        if busy is None:
            self._held[lease.id] = unreserve
            return None
        await self.release(lease)
        self.metrics.rejected("stt_streams", direction)
        return Refusal(f"provider stt streams ({busy.provider})", 5, reason="stt_streams")

    async def release(self, lease: Lease) -> None:
        """Give back a call's lease (once: a second release of the same lease does nothing)."""
        started = self._started.pop(lease.id, None)
        if started is None:
            return
        give_back = self._held.pop(lease.id, None)
        if give_back is not None:
            await give_back()  # a no-op once the call's stream took the reservation
        try:
            await self.backend.release(lease)
        finally:
            self.metrics.released(lease)
            self.queue.kick()
        since, business_id = started
        key, lapses = month_key(business_id, datetime.now(UTC))
        await self.backend.add(key, (time.monotonic() - since) / 60, lapses)

    def release_soon(self, lease: Lease) -> None:
        """For the call's end hook, which is not async: release in a task, logging any failure."""
        task = asyncio.get_running_loop().create_task(self._release_logged(lease))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release_logged(self, lease: Lease) -> None:
        try:
            await self.release(lease)
        except Exception:  # the backend's own TTL frees it; the failure is worth a line
            log.exception("capacity: releasing lease %s failed", lease.id)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.queue.aclose()
