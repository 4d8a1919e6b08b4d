"""The webhook outbox in the database: a dead node's events are sent by another once its lease
lapses, a node that comes back does not send them twice, and every node shows the same log.

The nodes read a clock that only the test moves, so a lease lapses when the test says so, never
because a busy machine held a node's renewal up (the sharing loops still run on real time)."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.receiver import Receiver
from voicegrid.analytics.shared_outbox import SharedDeliveries
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.core.egress import PERMISSIVE
from voicegrid.store import make_engine, make_sessionmaker
from voicegrid.store.models import WebhookDelivery

LEASE_S = 0.3


class StoppedClock:
    """Time that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def sessions(migrated_database_url: str) -> AsyncIterator[object]:
    engine = make_engine(migrated_database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def _node(sessions: object, outbox: Path, name: str, clock: StoppedClock, **options: object) -> WebhookSender:
    shared = SharedDeliveries(sessions, name, lease_s=LEASE_S)
    return WebhookSender(
        outbox,
        lambda _b: b"k" * 32,
        destinations=PERMISSIVE,
        shared=shared,
        clock=clock,
        **options,
    )


async def _leases(sessions: object) -> dict[str, tuple[str, float]]:
    """The waiting events' owners and lease ends, by call id."""
    async with sessions() as session:
        rows = await session.execute(
            select(WebhookDelivery.call_id, WebhookDelivery.owner, WebhookDelivery.lease_until).where(
                WebhookDelivery.state == "waiting"
            )
        )
        return {call_id: (owner, until) for call_id, owner, until in rows}


async def _until(condition, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not await condition():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.05)


async def test_a_dead_nodes_waiting_events_are_sent_by_another_once_its_lease_lapses(
    sessions: object, tmp_path: Path
) -> None:
    receiver = Receiver(statuses=[503])  # the first try fails: the event waits for its retry
    await receiver.start()
    clock = StoppedClock()
    dead = _node(sessions, tmp_path / "a", "node-a", clock, backoff_s=1.0)  # its retry: due in 1 s
    alive = _node(sessions, tmp_path / "b", "node-b", clock, backoff_s=0.05)
    await dead.start()
    await alive.start()
    try:
        await dead.send(receiver.url, "biz_1", "call.ended", {"id": "call_1"})
        await receiver.wait_for(1)
        assert [d["call_id"] for d in (await alive.delivery_log("biz_1"))["waiting"]] == ["call_1"]
        # node A dies: no more renewals, its retry never comes (its tasks stop, its files stay)
        for task in (dead._task, dead._sharing):
            assert task is not None
            task.cancel()
        await asyncio.sleep(LEASE_S)  # B sweeps a few times: the lease holds while time stands still
        assert len(receiver.received) == 1
        assert (await _leases(sessions))["call_1"][0] == "node-a"
        clock.advance(1.5)  # past the lease and the retry's time
        await receiver.wait_for(2, timeout_s=10)  # B took it over and sent it
        delivered = receiver.received[1]
        assert (
            delivered.headers["x-voicegrid-delivery"] == receiver.received[0].headers["x-voicegrid-delivery"]
        )
        assert delivered.headers["x-voicegrid-attempt"] == "2"  # the count carried on
        await _until(lambda: _empty(alive))

        # A comes back with the event still in its outbox: it was taken over, so A drops it
        assert len(list((tmp_path / "a").glob("whd_*.json"))) == 1
        again = _node(sessions, tmp_path / "a", "node-a", clock, backoff_s=0.05)
        await again.start()
        await asyncio.sleep(0.3)
        assert again.pending == 0
        assert list((tmp_path / "a").glob("whd_*.json")) == []
        await again.aclose()
    finally:
        await alive.aclose()
        await dead._client.aclose()
        await receiver.stop()
    assert len(receiver.received) == 2


async def _renewed(sessions: object, until: float) -> bool:
    return (await _leases(sessions))["call_1"][1] == pytest.approx(until, rel=0, abs=1e-3)


async def _idle(sender: WebhookSender) -> bool:
    """No attempt under way: every outcome so far is recorded."""
    return not sender._trying


async def _empty(sender: WebhookSender) -> bool:
    return await sender.delivery_log("biz_1") == {"waiting": [], "given_up": []}


async def test_a_live_node_keeps_its_events_and_every_node_shows_the_same_log(
    sessions: object, tmp_path: Path
) -> None:
    receiver = Receiver(statuses=[503, 400])
    await receiver.start()
    clock = StoppedClock()
    owner = _node(sessions, tmp_path / "a", "node-a", clock, backoff_s=60.0)
    other = _node(sessions, tmp_path / "b", "node-b", clock, backoff_s=0.05)
    await owner.start()
    await other.start()
    try:
        await owner.send(receiver.url, "biz_1", "call.ended", {"id": "call_1"})  # 503: waits
        await owner.send(receiver.url, "biz_1", "call.started", {"id": "call_2"})  # 400: given up
        await receiver.wait_for(2)
        await _until(lambda: _idle(owner))  # both attempts made, their outcomes recorded
        for _ in range(8):  # four leases' time, in half-lease steps: the owner renews after each
            clock.advance(LEASE_S / 2)
            await _until(lambda: _renewed(sessions, clock() + LEASE_S))
            assert (await _leases(sessions))["call_1"][0] == "node-a"  # nobody took it over
        await asyncio.sleep(LEASE_S)
        assert len(receiver.received) == 2
        log = await other.delivery_log("biz_1")
        assert [d["call_id"] for d in log["waiting"]] == ["call_1"]
        assert [(d["call_id"], d["last_status"]) for d in log["given_up"]] == [("call_2", 400)]
        assert log == await owner.delivery_log("biz_1")
        assert await other.delivery_log("biz_2") == {"waiting": [], "given_up": []}
        # a retry from the other node revives the given-up event there
        assert await other.retry_now("biz_1") == 1
        await receiver.wait_for(3)
    finally:
        await owner.aclose()
        await other.aclose()
        await receiver.stop()
