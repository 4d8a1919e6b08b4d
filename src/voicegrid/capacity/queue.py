"""Outbound calls waiting for capacity: FIFO within a business, round-robin across businesses.

A waiter is admitted by its own `attempt` (the same admission a direct call takes), tried again
whenever a call ends on this node (`kick`) and every `retry_s` (calls ending on other nodes). One
pass gives each business at most one admission before any business gets a second, so a business
with a thousand queued calls does not hold up one with a single call. A waiter not admitted by its
deadline is refused with the limit that kept it out.
"""

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voicegrid.capacity.errors import OverLimit
from voicegrid.capacity.leases import Lease, Refusal

Attempt = Callable[[], Awaitable[Lease | Refusal]]
Release = Callable[[Lease], Awaitable[None]]


@dataclass
class _Waiter:
    business: str
    attempt: Attempt
    refusal: Refusal
    future: "asyncio.Future[Lease]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class OutboundQueue:
    def __init__(self, release: Release, retry_s: float = 1.0) -> None:
        self.release, self.retry_s = release, retry_s
        self._queues: OrderedDict[str, deque[_Waiter]] = OrderedDict()
        self._kicked = asyncio.Event()
        self._returning: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.admitted = 0
        self.expired = 0

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def length(self, business: str) -> int:
        return len(self._queues.get(business, ()))

    def kick(self) -> None:
        self._kicked.set()

    async def wait(self, business: str, attempt: Attempt, refusal: Refusal, deadline_s: float) -> Lease:
        """Queue until admitted (the lease) or the deadline (OverLimit naming the last refusal)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="outbound-queue")
        waiter = _Waiter(business, attempt, refusal)
        self._queues.setdefault(business, deque()).append(waiter)
        self.kick()
        try:
            async with asyncio.timeout(deadline_s):
                return await asyncio.shield(waiter.future)
        except TimeoutError:
            pass
        except asyncio.CancelledError:  # the caller gave up (a hangup while queued, a drain)
            if waiter.future.done() and not waiter.future.cancelled():  # admitted in that instant
                self._hand_back(waiter.future.result())
            waiter.future.cancel()  # a pump asking for it right now hands its lease straight back
            raise
        finally:
            self._drop(waiter)
        if waiter.future.done() and not waiter.future.cancelled():
            return waiter.future.result()  # admitted in the same instant as the deadline
        waiter.future.cancel()
        self.expired += 1
        raise OverLimit(f"{waiter.refusal.limit} (queued {deadline_s:g} s)", waiter.refusal.retry_after_s)

    def _hand_back(self, lease: Lease) -> None:
        task = asyncio.ensure_future(self.release(lease))
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)

    def _drop(self, waiter: _Waiter) -> None:
        queue = self._queues.get(waiter.business)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(waiter)
            if not queue:
                del self._queues[waiter.business]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_s):
                    await self._kicked.wait()
            self._kicked.clear()
            await self._pump()

    async def _pump(self) -> None:
        progress = True
        while progress and self._queues:
            progress = False
            for business in list(self._queues):
                queue = self._queues.get(business)
                if not queue:
                    continue
                waiter = queue[0]
                answer = await waiter.attempt()
                if isinstance(answer, Refusal):
                    waiter.refusal = answer
                    continue
                if waiter.future.done():  # gave up while we asked: hand the lease straight back
                    await self.release(answer)
                    continue
                self._drop(waiter)
                waiter.future.set_result(answer)
                self.admitted += 1
                if business in self._queues:
                    self._queues.move_to_end(business)  # its next call waits for the others' turn
                progress = True
