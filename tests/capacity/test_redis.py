"""What only a shared backend must do: several nodes, nodes that die, and Redis going away."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from voicegrid.capacity.backend import PoolSpec
from voicegrid.capacity.leases import Lease, Limit, Refusal
from voicegrid.capacity.resilient import ResilientBackend
from voicegrid.capacity.shared import RedisBackend
from voicegrid.testing.redis_server import RedisServer, start_redis

_prefixes = itertools.count()


def business(limit: int) -> list[Limit]:
    return [Limit("business:b1", limit, f"business b1 max_concurrent_calls={limit}")]


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[list[RedisBackend]]:
    prefix = f"n{next(_prefixes)}:"
    started = [RedisBackend(redis_server.url, node_id=f"node{i}", prefix=prefix, ttl_s=1.5) for i in range(2)]
    for node in started:
        await node.start()
    yield started
    for node in started:
        await node.aclose()


async def test_two_nodes_admitting_at_once_admit_exactly_the_limit_between_them(
    nodes: list[RedisBackend],
) -> None:
    answers = await asyncio.gather(*(nodes[i % 2].admit(business(25), "inbound") for i in range(400)))
    admitted = [a for a in answers if isinstance(a, Lease)]
    assert len(admitted) == 25
    assert sum(isinstance(a, Refusal) for a in answers) == 375
    assert await nodes[0].count("business:b1") == 25
    assert nodes[0].admitted + nodes[1].admitted == 25


async def test_a_node_that_stops_renewing_frees_its_calls_and_slots_within_the_ttl(
    nodes: list[RedisBackend],
) -> None:
    alive, dead = nodes
    await alive.configure(PoolSpec("tts", 4))
    for _ in range(3):
        assert isinstance(await dead.admit(business(10), "inbound"), Lease)
        await dead.acquire_slot("tts", "b1", 0.1)
    assert isinstance(await alive.admit(business(10), "inbound"), Lease)
    kept_slot = await alive.acquire_slot("tts", "b2", 0.1)
    for task in dead._tasks:  # the node dies: no more heartbeats, nothing released
        task.cancel()
    died = time.monotonic()
    while await alive.count("business:b1") > 1:
        assert time.monotonic() - died < alive.ttl_s + 0.5
        await asyncio.sleep(0.05)
    # The living node's holdings were renewed by its heartbeat all along, past several TTLs.
    await asyncio.sleep(2 * alive.ttl_s)
    assert await alive.count("business:b1") == 1
    assert (await alive.usage("tts")).in_use == {"b2": 1}
    await alive.release_slot(kept_slot)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of its own: this test freezes it."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def node(own_redis: RedisServer) -> AsyncIterator[ResilientBackend]:
    """A node on that server, with a short TTL and a quick probe for its return."""
    shared = RedisBackend(own_redis.url, node_id="n1", ttl_s=1.5, timeout_s=0.2)
    resilient = ResilientBackend(shared, fraction=0.5, probe_s=0.2)
    await resilient.start()
    try:
        yield resilient
    finally:
        own_redis.resume()
        await resilient.aclose()


async def reconciled(node: ResilientBackend) -> None:
    deadline = time.monotonic() + 5
    while node.degraded:
        assert time.monotonic() < deadline, "did not reconcile"
        await asyncio.sleep(0.05)


async def test_without_redis_a_node_admits_its_fraction_and_hands_its_calls_back_when_redis_returns(
    own_redis: RedisServer, node: ResilientBackend
) -> None:
    await node.configure(PoolSpec("tts", 10))
    before = await node.admit(business(6), "inbound")
    assert isinstance(before, Lease)
    own_redis.pause()
    during = [await node.admit(business(6), "inbound") for _ in range(4)]
    assert node.degraded
    # Half of 6 on this node alone: 3 admitted, and the refusal says why.
    assert sum(isinstance(a, Lease) for a in during) == 3
    refusal = during[-1]
    assert isinstance(refusal, Refusal)
    assert "degraded" in refusal.limit
    slots = [await node.acquire_slot("tts", "b1", 0.05) for _ in range(5)]
    assert len(slots) == 5  # half of the pool, locally
    for slot in slots:
        await node.release_slot(slot)
    own_redis.resume()
    await reconciled(node)
    # Redis now counts the call from before and the three from the outage.
    assert await node.count("business:b1") == 4
    for lease in during[:3]:
        assert isinstance(lease, Lease)
        await node.release(lease)
    assert await node.count("business:b1") == 1
    assert node.outages == 1


async def test_a_call_that_ends_while_redis_is_away_is_not_counted_when_redis_returns(
    own_redis: RedisServer, node: ResilientBackend
) -> None:
    ended = await node.admit(business(6), "inbound")
    kept = await node.admit(business(6), "inbound")
    assert isinstance(ended, Lease)
    assert isinstance(kept, Lease)
    own_redis.pause()
    await node.count("business:b1")  # finds Redis away
    assert node.degraded
    await node.release(ended)  # the hangup cannot reach Redis
    own_redis.resume()
    await reconciled(node)
    await asyncio.sleep(2 * node.shared.ttl_s)  # heartbeats go on; the ended call's lease lapses
    assert await node.count("business:b1") == 1
