"""The outbound queue: FIFO within a business, round-robin across businesses, bounded by a deadline."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from voicegrid.capacity.errors import OverLimit
from voicegrid.capacity.leases import CallLeases, Lease, Limit, Refusal
from voicegrid.capacity.queue import OutboundQueue


class Counters:
    """Admission against one shared limit of `room` calls, recording the order of admissions."""

    def __init__(self, room: int) -> None:
        self.leases = CallLeases()
        self.room = room
        self.order: list[str] = []

    def attempt(self, business: str, name: str) -> Callable[[], Awaitable[Lease | Refusal]]:
        async def run() -> Lease | Refusal:
            answer = self.leases.admit([Limit("platform", self.room, "room")], "outbound", 0)
            if isinstance(answer, Lease):
                self.order.append(name)
            return answer

        return run

    async def release(self, lease: Lease) -> None:
        self.leases.release(lease)


async def test_waiting_calls_are_admitted_fifo_within_a_business_and_in_turn_across_businesses() -> None:
    counters = Counters(room=0)
    queue = OutboundQueue(counters.release, retry_s=0.05)
    refusal = Refusal("room", 5)
    waits = [
        asyncio.create_task(queue.wait(b, counters.attempt(b, f"{b}{n}"), refusal, 5))
        for b, n in [("big", 1), ("big", 2), ("big", 3), ("big", 4), ("small", 1), ("tiny", 1)]
    ]
    await asyncio.sleep(0.1)
    assert len(queue) == 6
    counters.room = 6  # room for everyone at once: the order is the queue's
    queue.kick()
    leases = await asyncio.gather(*waits)
    assert all(isinstance(lease, Lease) for lease in leases)
    # One each in turn, then the big business's remaining calls in their own order.
    assert counters.order == ["big1", "small1", "tiny1", "big2", "big3", "big4"]
    assert (queue.admitted, len(queue)) == (6, 0)
    await queue.aclose()


async def test_a_queued_call_not_admitted_by_its_deadline_is_refused_and_leaves_the_queue() -> None:
    counters = Counters(room=0)
    queue = OutboundQueue(counters.release, retry_s=0.05)
    with pytest.raises(OverLimit) as refused:
        await queue.wait(
            "b1", counters.attempt("b1", "late"), Refusal("business max_concurrent_calls=1", 5), 0.2
        )
    assert refused.value.limit == "room (queued 0.2 s)"  # the limit that refused it last
    assert (len(queue), queue.expired) == (0, 1)
    counters.room = 1
    queue.kick()
    await asyncio.sleep(0.1)
    assert counters.order == []  # nothing was admitted for a caller who had gone
    await queue.aclose()


async def test_a_call_given_up_while_its_admission_is_being_asked_hands_the_lease_straight_back() -> None:
    counters = Counters(room=1)
    asked, answer = asyncio.Event(), asyncio.Event()

    async def slow_attempt() -> Lease | Refusal:
        asked.set()
        await answer.wait()  # the backend is slow to answer (Redis across the network)
        return await counters.attempt("b1", "gone")()

    queue = OutboundQueue(counters.release, retry_s=0.05)
    waiting = asyncio.create_task(queue.wait("b1", slow_attempt, Refusal("room", 5), 5))
    await asyncio.wait_for(asked.wait(), 2)
    waiting.cancel()  # hung up while queued
    with pytest.raises(asyncio.CancelledError):
        await waiting
    answer.set()  # admitted, for a caller who has gone
    await asyncio.sleep(0.1)
    assert counters.order == ["gone"]
    assert counters.leases.count("platform", 0) == 0  # the lease went back: the room is free
    await queue.aclose()
