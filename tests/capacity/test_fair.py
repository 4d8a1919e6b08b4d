"""Weighted fair sharing of one provider account's slots, driven by a discrete-event clock."""

import asyncio
import heapq
import itertools

import pytest

from voicegrid.capacity.errors import CapacityError, SlotUnavailable
from voicegrid.capacity.fair import FairPool
from voicegrid.capacity.memory import SlotPool

HOLD_S = 0.25  # one TTS request


def simulate(pool: FairPool, rates: dict[str, float], seconds: float) -> dict[str, list[float]]:
    """Evenly spaced requests per tenant, each holding a slot HOLD_S; returns each tenant's waits."""
    events: list[tuple[float, int, str, str]] = []
    order = itertools.count()
    for tenant, rate in rates.items():
        for k in range(int(seconds * rate)):
            heapq.heappush(events, (k / rate, next(order), "arrive", tenant))
    waits: dict[str, list[float]] = {t: [] for t in rates}
    queued: dict[object, tuple[str, float]] = {}
    peak = 0
    while events:
        now, _, kind, tenant = heapq.heappop(events)
        if kind == "arrive":
            ticket = next(order)
            if pool.acquire(tenant, ticket):
                waits[tenant].append(0.0)
                heapq.heappush(events, (now + HOLD_S, next(order), "leave", tenant))
            else:
                queued[ticket] = (tenant, now)
        else:
            for granted_tenant, ticket in pool.release(tenant):
                who, since = queued.pop(ticket)
                assert who == granted_tenant
                waits[who].append(now - since)
                heapq.heappush(events, (now + HOLD_S, next(order), "leave", who))
        peak = max(peak, pool.used)
        assert pool.used <= pool.capacity
    assert peak == pool.capacity
    return waits


def test_a_tenant_bursting_at_ten_times_its_share_does_not_make_the_others_wait_past_one_request() -> None:
    pool = FairPool(10, weights={"a": 1, "b": 1, "c": 2})
    share_rate = {t: pool.share(t) / HOLD_S for t in "abc"}  # requests/s that would fill each share
    rates = {"a": 10 * share_rate["a"], "b": 0.8 * share_rate["b"], "c": 0.8 * share_rate["c"]}
    waits = simulate(pool, rates, seconds=60)
    # The others are served: every request granted, none waiting longer than one request's hold.
    for tenant in "bc":
        assert len(waits[tenant]) == int(60 * rates[tenant])
        assert max(waits[tenant]) <= HOLD_S
    # The burster gets the rest and no more: the pool never went over, and its requests queued.
    assert max(waits["a"]) > 10 * HOLD_S
    assert pool.granted == sum(len(w) for w in waits.values())
    assert sum(len(w) for w in waits.values()) - pool.released == pool.used


def test_guaranteed_minimums_are_held_free_so_their_owner_never_waits() -> None:
    pool = FairPool(10, weights={"a": 1, "b": 1, "c": 2}, minimums={"b": 2, "c": 3})
    share_rate = {t: pool.share(t) / HOLD_S for t in "abc"}
    rates = {"a": 10 * share_rate["a"], "b": 2 / HOLD_S * 0.9, "c": 3 / HOLD_S * 0.9}
    waits = simulate(pool, rates, seconds=30)
    assert max(waits["b"]) == 0.0
    assert max(waits["c"]) == 0.0


def test_an_idle_pool_lends_every_slot_to_one_tenant() -> None:
    pool = FairPool(4, weights={"a": 1, "b": 3})
    assert all(pool.acquire("a", n) for n in range(4))
    assert not pool.acquire("b", "b1")  # full: b waits for the next release, which goes to b
    assert pool.release("a") == [("b", "b1")]
    assert not pool.acquire("a", "a5")
    assert pool.release("a") == [("a", "a5")] or pool.in_use["b"] == 1


def test_bad_configurations_and_releases_are_refused() -> None:
    with pytest.raises(CapacityError):
        FairPool(2, minimums={"a": 2, "b": 1})
    with pytest.raises(CapacityError):
        FairPool(2).release("nobody")


async def test_the_asyncio_pool_waits_at_most_the_bound_then_moves_on() -> None:
    pool = SlotPool("tts", FairPool(1))
    await pool.acquire("a", 0.1)
    with pytest.raises(SlotUnavailable) as caught:
        await pool.acquire("b", 0.05)
    assert caught.value.waited_s >= 0.05
    waiter = asyncio.create_task(pool.acquire("b", 1.0))
    await asyncio.sleep(0.01)
    pool.release("a")
    await waiter  # granted on release
    assert pool.pool.in_use["b"] == 1
    assert pool.timeouts == 1
    async with asyncio.timeout(1):
        cancelled = asyncio.create_task(pool.acquire("c", 5.0))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert pool.pool.waiting == 0
