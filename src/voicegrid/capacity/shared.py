"""The Redis backend: the same leases and fair pools as the in-process one, shared by every node.

Every decision is one Lua script (`redis_scripts`), so it is atomic across nodes. Every holding has
a TTL that this node's heartbeat renews every third of it; a node that dies stops renewing, and
what it held is free within the TTL. A waiter for a slot is queued in Redis; when a release or a
bigger pool grants it, the script publishes the ticket on this node's channel and the waiter wakes.
A lost message costs nothing: at its deadline the waiter asks, and keeps a slot granted meanwhile.

Every Redis call has a timeout (`timeout_s`); failures raise `redis.exceptions.RedisError` or
`OSError`, which `voicegrid.capacity.resilient` turns into the local fallback.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import socket
import time
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from voicegrid.capacity import redis_scripts as lua
from voicegrid.capacity.backend import PoolSpec, PoolUsage, Slot
from voicegrid.capacity.errors import CapacityError, SlotUnavailable
from voicegrid.capacity.leases import Lease, Limit, Refusal

log = logging.getLogger(__name__)

UNANSWERED = (aioredis.RedisError, OSError, TimeoutError)


class RedisBackend:
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        node_id: str | None = None,
        ttl_s: float = 15.0,
        timeout_s: float = 0.5,
        prefix: str = "vg:",
        retry_after_s: int = 5,
        max_connections: int = 32,
        connect_timeout_s: float = 2.0,
    ) -> None:
        self.url, self.ttl_s, self.timeout_s, self.prefix = url, ttl_s, timeout_s, prefix
        self.retry_after_s = retry_after_s
        self.node = node_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.channel = f"{prefix}grants:{self.node}"
        # At most `max_connections` requests in flight; the rest queue here in arrival order (a busy
        # node is not a Redis outage), and each request then has `timeout_s` on the wire.
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=timeout_s,
            # Opening a connection gets longer than a request: a burst opens dozens at once, and
            # Redis accepts them one by one (a CI run saw 0.5 s pass); a dead Redis still shows
            # within `timeout_s` on the connections already open.
            socket_connect_timeout=max(timeout_s, connect_timeout_s),
            decode_responses=True,
        )
        self._gate = asyncio.Semaphore(max_connections)
        # Grants arrive on a connection of their own, outside the gate.
        self._subscriber: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=max(timeout_s, connect_timeout_s), decode_responses=True
        )
        self._scripts: dict[str, AsyncScript] = {
            name: self.redis.register_script(getattr(lua, name))
            for name in (
                "ADMIT",
                "DROP",
                "ADD",
                "RENEW",
                "COUNT",
                "RATE",
                "ACQUIRE",
                "RELEASE",
                "CANCEL",
                "CONFIGURE",
                "USAGE",
            )
        }
        self._ids = itertools.count(1)
        self.leases: dict[str, Lease] = {}  # held by this node's calls, renewed by the heartbeat
        self.slots: dict[str, Slot] = {}
        # Asked for while Redis did not answer: it may yet have done them (a frozen server runs what
        # it was sent when it wakes), so they are undone when it answers again (`undo_uncertain`).
        self.uncertain: list[Lease | Slot] = []
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.admitted = 0
        self.refused = 0
        self.restored = 0  # holdings the heartbeat found expired and put back
        self.timeouts = 0

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.ping()
        self._tasks = [
            asyncio.create_task(self._listen(), name="capacity-grants"),
            asyncio.create_task(self._heartbeat(), name="capacity-heartbeat"),
        ]

    async def aclose(self) -> None:
        self._closing = True  # redis-py's timed read can swallow a cancellation: the loop checks this
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.redis.aclose()
        await self._subscriber.aclose()

    async def ping(self) -> None:
        async with self._gate:
            await self.redis.ping()

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        async with self._gate:
            return await self._scripts[script](keys=keys, args=args)

    def _ttl_ms(self) -> int:
        return int(self.ttl_s * 1000)

    # ---- call leases -----------------------------------------------------------------------------
    def _counter(self, key: str) -> str:
        return f"{self.prefix}calls:{key}"

    async def admit(self, limits: list[Limit], direction: str) -> Lease | Refusal:
        lease = Lease(f"{self.node}:{next(self._ids)}", tuple(limit.key for limit in limits), direction)
        allowances = [-1 if (a := limit.allows(direction)) is None else a for limit in limits]
        try:
            full = int(
                await self._run(
                    "ADMIT", [self._counter(k) for k in lease.keys], [lease.id, self._ttl_ms(), *allowances]
                )
            )
        except UNANSWERED:
            self.uncertain.append(lease)
            raise
        if full:
            self.refused += 1
            return Refusal(limits[full - 1].refusal_label(), self.retry_after_s)
        self.leases[lease.id] = lease
        self.admitted += 1
        return lease

    async def adopt(self, lease: Lease) -> None:
        """Count a lease taken elsewhere (the local fallback) here, whatever the limit says now."""
        await self._run(
            "RENEW", [self._counter(k) for k in lease.keys], [self._ttl_ms()] + [lease.id] * len(lease.keys)
        )
        self.leases[lease.id] = lease

    async def release(self, lease: Lease) -> None:
        # Forgotten first: if Redis cannot be told, the lease is no longer renewed and expires.
        self.leases.pop(lease.id, None)
        await self._run("DROP", [self._counter(k) for k in lease.keys], [lease.id])

    async def count(self, key: str) -> int:
        return int(await self._run("COUNT", [self._counter(key)], []))

    # ---- fair pools ------------------------------------------------------------------------------
    def _pool(self, name: str) -> str:
        return f"{self.prefix}pool:{{{name}}}"

    async def configure(self, spec: PoolSpec) -> None:
        if sum(spec.minimums.values()) > spec.capacity:
            raise CapacityError("guaranteed minimums exceed the pool")
        config = {
            "capacity": spec.capacity,
            "weights": spec.weights,
            "minimums": spec.minimums,
            "default_weight": spec.default_weight,
        }
        await self._run("CONFIGURE", [self._pool(spec.name)], [json.dumps(config), self._ttl_ms()])

    async def acquire_slot(self, pool: str, tenant: str, wait_s: float) -> Slot:
        slot = Slot(pool, tenant, f"{self.node}:{next(self._ids)}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[slot.ticket] = future  # before asking: the grant may be published at once
        started = time.monotonic()
        try:
            answer = int(
                await self._run(
                    "ACQUIRE",
                    [self._pool(pool)],
                    [tenant, slot.ticket, int(wait_s * 1000), self._ttl_ms(), self.channel],
                )
            )
            if answer < 0:
                raise CapacityError(f"no pool {pool!r}: configure it first")
            if answer == 0:
                await self._wait(future, slot, wait_s, started)
        except UNANSWERED:
            self._waiting.pop(slot.ticket, None)
            self.uncertain.append(slot)
            raise
        except BaseException:
            self._waiting.pop(slot.ticket, None)
            raise
        self._waiting.pop(slot.ticket, None)
        self.slots[slot.ticket] = slot
        return slot

    async def _wait(self, future: "asyncio.Future[None]", slot: Slot, wait_s: float, started: float) -> None:
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(future)
            return
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            if await self._withdraw(slot):
                await self._release(slot)
            raise
        if await self._withdraw(slot):
            return  # granted as the wait ran out: keep it
        self.timeouts += 1
        raise SlotUnavailable(slot.pool, slot.tenant, time.monotonic() - started)

    async def _withdraw(self, slot: Slot) -> bool:
        return bool(
            await self._run("CANCEL", [self._pool(slot.pool)], [slot.tenant, slot.ticket, self._ttl_ms()])
        )

    async def release_slot(self, slot: Slot) -> None:
        self.slots.pop(slot.ticket, None)
        await self._release(slot)

    async def _release(self, slot: Slot) -> None:
        await self._run("RELEASE", [self._pool(slot.pool)], [slot.tenant, slot.ticket, self._ttl_ms()])

    async def usage(self, pool: str) -> PoolUsage:
        out = await self._run("USAGE", [self._pool(pool)], [])
        if out == -1:
            raise CapacityError(f"no pool {pool!r}")
        capacity, rest = int(out[0]), out[1:]
        in_use = {str(rest[i]): int(rest[i + 1]) for i in range(0, len(rest), 3) if int(rest[i + 1])}
        waiting = {str(rest[i]): int(rest[i + 2]) for i in range(0, len(rest), 3) if int(rest[i + 2])}
        return PoolUsage(capacity, in_use, waiting)

    async def rate(self, key: str, limit: float, window_s: float = 1.0) -> bool:
        member = f"{self.node}:{next(self._ids)}"
        window_ms = int(window_s * 1000)
        return bool(await self._run("RATE", [f"{self.prefix}rate:{key}"], [limit, member, window_ms]))

    async def add(self, key: str, amount: float, expires_at: float) -> float:
        return float(await self._run("ADD", [f"{self.prefix}total:{key}"], [amount, int(expires_at)]))

    async def total(self, key: str) -> float:
        async with self._gate:
            return float(await self.redis.get(f"{self.prefix}total:{key}") or 0.0)

    async def undo_uncertain(self) -> None:
        while self.uncertain:
            held = self.uncertain[0]
            if isinstance(held, Lease):
                await self.release(held)
            elif await self._withdraw(held):
                await self._release(held)
            self.uncertain.pop(0)

    # ---- background ------------------------------------------------------------------------------
    async def renew_all(self) -> None:
        """One heartbeat: push out the expiry of every lease and slot this node holds."""
        keys: list[str] = []
        members: list[str] = []
        for lease in list(self.leases.values()):
            for key in lease.keys:
                keys.append(self._counter(key))
                members.append(lease.id)
        for slot in list(self.slots.values()):
            keys.append(f"{self._pool(slot.pool)}:held:{slot.tenant}")
            members.append(slot.ticket)
        for start in range(0, len(keys), 500):
            restored = int(
                await self._run(
                    "RENEW", keys[start : start + 500], [self._ttl_ms(), *members[start : start + 500]]
                )
            )
            if restored:
                self.restored += restored
                log.warning("capacity: %d holdings had expired in Redis and were put back", restored)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.renew_all()
            except (aioredis.RedisError, OSError) as exc:
                log.warning("capacity: heartbeat to Redis failed: %s", exc)

    async def _listen(self) -> None:
        while not self._closing:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        future = self._waiting.get(str(message["data"]))
                        if future is not None and not future.done():
                            future.set_result(None)
            except (aioredis.RedisError, OSError) as exc:
                log.debug("capacity: grant channel lost (%s); resubscribing", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
