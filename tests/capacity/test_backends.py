"""One suite, two backends: call leases and fair pools behave the same in-process and through Redis."""

import asyncio
import time

import pytest

from voicegrid.capacity.backend import Backend, PoolSpec
from voicegrid.capacity.errors import SlotUnavailable
from voicegrid.capacity.leases import Lease, Limit, Refusal

HOLD_S = 0.25  # one TTS request
# How long a request may wait for a slot. The agent's default (turn.slot_wait_ms) is 0.3 s; here a
# second, since what is under test is who is served, and a loaded machine's own scheduling (a free
# slot noticed, a Redis reply read) took a request of a business under its share past 0.3 s.
BOUND_S = 1.0


def limits(
    business: int | None, reseller: int | None = None, biz: str = "b1", reserve: int = 0
) -> list[Limit]:
    return [
        Limit(f"business:{biz}", business, f"business {biz} max_concurrent_calls={business}", reserve),
        Limit("reseller:r1", reseller, f"reseller r1 max_concurrent_calls={reseller}"),
    ]


async def test_a_business_at_its_limit_is_refused_naming_it_and_a_hangup_frees_the_slot(
    backend: Backend,
) -> None:
    first = await backend.admit(limits(2), "inbound")
    second = await backend.admit(limits(2), "outbound")
    assert isinstance(first, Lease)
    assert isinstance(second, Lease)
    third = await backend.admit(limits(2), "inbound")
    assert isinstance(third, Refusal)
    assert third.limit == "business b1 max_concurrent_calls=2"
    assert third.retry_after_s == 5
    await backend.release(first)
    assert await backend.count("business:b1") == 1
    assert isinstance(await backend.admit(limits(2), "inbound"), Lease)


async def test_the_resellers_limit_bounds_its_businesses_and_a_refusal_takes_nothing(
    backend: Backend,
) -> None:
    assert isinstance(await backend.admit(limits(None, 2, "b1"), "inbound"), Lease)
    assert isinstance(await backend.admit(limits(None, 2, "b2"), "inbound"), Lease)
    refused = await backend.admit(limits(None, 2, "b3"), "inbound")
    assert isinstance(refused, Refusal)
    assert "reseller r1" in refused.limit
    assert await backend.count("business:b3") == 0
    assert await backend.count("reseller:r1") == 2


async def test_reserved_inbound_headroom_refuses_outbound_calls_but_still_takes_inbound_ones(
    backend: Backend,
) -> None:
    for _ in range(3):
        assert isinstance(await backend.admit(limits(4, reserve=1), "outbound"), Lease)
    assert isinstance(await backend.admit(limits(4, reserve=1), "outbound"), Refusal)
    assert isinstance(await backend.admit(limits(4, reserve=1), "inbound"), Lease)
    assert isinstance(await backend.admit(limits(4, reserve=1), "inbound"), Refusal)


async def test_an_idle_pool_lends_every_slot_and_a_release_goes_to_the_waiter(backend: Backend) -> None:
    await backend.configure(PoolSpec("tts", 3, {"a": 1, "b": 3}))
    held = [await backend.acquire_slot("tts", "a", 0.1) for _ in range(3)]
    waiter = asyncio.create_task(backend.acquire_slot("tts", "b", 2.0))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await backend.release_slot(held[0])
    slot = await asyncio.wait_for(waiter, 2.0)
    assert slot.tenant == "b"
    usage = await backend.usage("tts")
    assert (usage.capacity, usage.in_use, usage.waiting) == (3, {"a": 2, "b": 1}, {})


async def test_a_request_waits_at_most_its_bound_then_gives_up_its_place(backend: Backend) -> None:
    await backend.configure(PoolSpec("tts", 1))
    held = await backend.acquire_slot("tts", "a", 0.1)
    started = time.monotonic()
    with pytest.raises(SlotUnavailable):
        await backend.acquire_slot("tts", "b", 0.1)
    assert time.monotonic() - started >= 0.1
    cancelled = asyncio.create_task(backend.acquire_slot("tts", "c", 5.0))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert (await backend.usage("tts")).waiting == {}
    await backend.release_slot(held)
    assert (await backend.usage("tts")).in_use == {}  # nobody was granted a slot it never took


async def test_a_bigger_pool_grants_its_waiters_at_once(backend: Backend) -> None:
    await backend.configure(PoolSpec("llm", 1))
    await backend.acquire_slot("llm", "a", 0.1)
    waiter = asyncio.create_task(backend.acquire_slot("llm", "b", 2.0))
    await asyncio.sleep(0.05)
    await backend.configure(PoolSpec("llm", 2))
    assert (await asyncio.wait_for(waiter, 1.0)).tenant == "b"


async def test_three_businesses_share_ten_slots_and_one_bursting_tenfold_does_not_hold_up_the_others(
    backend: Backend,
) -> None:
    spec = PoolSpec("tts:deepgram", 10, {"a": 1, "b": 1, "c": 2})
    await backend.configure(spec)
    shares = {"a": 2.5, "b": 2.5, "c": 5.0}  # capacity x weight / total weight
    rates = {"a": 10 * shares["a"] / HOLD_S, "b": 0.8 * shares["b"] / HOLD_S, "c": 0.8 * shares["c"] / HOLD_S}
    seconds = 5.0
    issued = {t: int(seconds * r) for t, r in rates.items()}
    granted = dict.fromkeys(rates, 0)
    refused = dict.fromkeys(rates, 0)
    waits: dict[str, list[float]] = {t: [] for t in rates}
    holding = 0
    peak = 0
    peak_seen_by_backend = 0

    async def request(tenant: str) -> None:
        nonlocal holding, peak
        started = time.monotonic()
        try:
            slot = await backend.acquire_slot(spec.name, tenant, BOUND_S)
        except SlotUnavailable:
            refused[tenant] += 1
            return
        waits[tenant].append(time.monotonic() - started)
        granted[tenant] += 1
        holding += 1
        peak = max(peak, holding)
        await asyncio.sleep(HOLD_S)
        holding -= 1
        await backend.release_slot(slot)

    async def tenant_load(tenant: str) -> None:
        async with asyncio.TaskGroup() as group:
            begin = time.monotonic()
            for k in range(issued[tenant]):
                await asyncio.sleep(max(0.0, begin + k / rates[tenant] - time.monotonic()))
                group.create_task(request(tenant))

    async def watch() -> None:
        nonlocal peak_seen_by_backend
        while True:
            usage = await backend.usage(spec.name)
            peak_seen_by_backend = max(peak_seen_by_backend, sum(usage.in_use.values()))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    async with asyncio.TaskGroup() as group:
        for tenant in rates:
            group.create_task(tenant_load(tenant))
    watcher.cancel()

    # The others were all served within the bound; the burster got the rest and was refused the excess.
    for tenant in "bc":
        assert (granted[tenant], refused[tenant]) == (issued[tenant], 0)
        assert max(waits[tenant]) < BOUND_S
    assert granted["a"] + refused["a"] == issued["a"]
    assert refused["a"] > issued["a"] / 2
    # The pool was used to the full and never past it, by our count and by the backend's own.
    assert peak == 10
    assert peak_seen_by_backend <= 10
    usage = await backend.usage(spec.name)
    assert (usage.in_use, usage.waiting) == ({}, {})


async def test_a_rate_limit_takes_at_most_its_rate_in_any_second(backend: Backend) -> None:
    taken = [await backend.rate("cps:business:b1", 3) for _ in range(5)]
    assert taken == [True, True, True, False, False]
    assert await backend.rate("cps:business:b2", 3)  # another business's own window
    await asyncio.sleep(1.05)
    assert await backend.rate("cps:business:b1", 3)


async def test_running_totals_add_up_and_vanish_when_they_expire(backend: Backend) -> None:
    assert await backend.total("minutes:b1:2026-11") == 0
    await backend.add("minutes:b1:2026-11", 1.5, time.time() + 60)
    assert await backend.add("minutes:b1:2026-11", 2.25, time.time() + 60) == 3.75
    assert await backend.total("minutes:b1:2026-11") == 3.75
    await backend.add("minutes:b1:2026-10", 5, time.time() + 1)
    await asyncio.sleep(2.1)
    assert await backend.total("minutes:b1:2026-10") == 0
