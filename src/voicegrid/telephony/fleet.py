"""Many nodes, one view of the calls: which node holds each live call (a registry in Redis), and
requests to the node that holds one (a bus over Redis pub/sub).

Registry. Every node keeps `<prefix>node:<name>` (its HTTP URL) alive with a TTL, and writes its
live calls into one hash per business, `<prefix>calls:<business>`: call id -> node. It writes what
changed every `sync_s` (and at once when `kick`ed: a call answered or ended), and everything again
every `full_every` rounds, so a Redis that restarted empty is whole again within that. A dead
node's entries stay until someone looks: readers skip (and delete) entries whose node's key expired.

Bus. Each node listens on `<prefix>bus:<name>`. A request names its op, the business, the call and
who to answer; the holder runs it through its handler (at most `max_handling` at once, beyond that
it answers 503) and publishes the reply on the asker's channel. An ask that gets no reply within
`timeout_s` raises FleetUnavailable. Messages over `MAX_MESSAGE` bytes, or that are not JSON
objects, are dropped: only nodes write here, but a bug must not grow our memory.

Redis away: every call here has a timeout; the registry stops being written (the loop keeps
trying), asks raise FleetUnavailable, and the API answers from this node alone. Calls never wait
on any of it.
"""

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from voicegrid.capacity.shared import UNANSWERED  # the same Redis, failing the same ways
from voicegrid.telephony.errors import FleetUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # request -> reply
LiveCalls = Callable[[], Iterable[tuple[str, str]]]  # this node's live calls: (call id, business id)
MAX_MESSAGE = 4 * 1024 * 1024


class Fleet:
    def __init__(
        self,
        url: str,
        node: str,
        http_url: str,
        *,
        prefix: str = "vg:fleet:",
        ttl_s: float = 15.0,
        sync_s: float = 1.0,
        full_every: int = 10,
        timeout_s: float = 2.0,
        max_handling: int = 64,
    ) -> None:
        self.node, self.http_url, self.prefix = node, http_url, prefix
        self.ttl_s, self.sync_s, self.full_every, self.timeout_s = ttl_s, sync_s, full_every, timeout_s
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._subscriber: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._handling = asyncio.Semaphore(max_handling)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._registered: dict[str, str] = {}  # call id -> business, as last written
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self.synced = False  # the last sync reached Redis
        self.dropped_messages = 0

    def channel(self, node: str) -> str:
        return f"{self.prefix}bus:{node}"

    def node_key(self, node: str) -> str:
        return f"{self.prefix}node:{node}"

    def calls_key(self, business_id: str) -> str:
        return f"{self.prefix}calls:{business_id}"

    def start(self, live_calls: LiveCalls, handler: Handler) -> None:
        self._tasks = [
            asyncio.create_task(self._sync_loop(live_calls), name="fleet-sync"),
            asyncio.create_task(self._listen(handler), name="fleet-bus"),
        ]

    def kick(self) -> None:
        """Write the registry now (a call was answered or ended), not at the next round."""
        self._kick.set()

    async def aclose(self) -> None:
        for task in [*self._tasks, *self._handlers]:
            task.cancel()
        for task in [*self._tasks, *self._handlers]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(*UNANSWERED):  # leave the fleet at once, not at the TTL
            await asyncio.wait_for(self._leave(), self.timeout_s)
        await self.redis.aclose()
        await self._subscriber.aclose()

    async def _leave(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.node_key(self.node))
        for call_id, business in self._registered.items():
            pipe.hdel(self.calls_key(business), call_id)
        await pipe.execute()

    # -- registry ------------------------------------------------------------------------------

    async def _sync_loop(self, live_calls: LiveCalls) -> None:
        for round_no in itertools.count():
            try:
                await asyncio.wait_for(self.sync(live_calls, full=round_no % self.full_every == 0), 5)
                self.synced = True
            except UNANSWERED as exc:
                if self.synced:
                    log.warning("fleet: the registry cannot be written (%s); trying again", exc)
                self.synced = False
                self._registered.clear()  # everything again once Redis answers
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.sync_s)

    async def sync(self, live_calls: LiveCalls, *, full: bool = False) -> None:
        """Write what changed in this node's live calls (everything when `full`) and renew its key."""
        now = dict(live_calls())
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.node_key(self.node), self.http_url, ex=max(1, round(self.ttl_s)))
        for call_id, business in now.items():
            if full or self._registered.get(call_id) != business:
                pipe.hset(self.calls_key(business), call_id, self.node)
        for call_id, business in self._registered.items():
            if call_id not in now:
                pipe.hdel(self.calls_key(business), call_id)
        await pipe.execute()
        self._registered = now

    async def nodes(self) -> dict[str, str]:
        """The live nodes and their HTTP URLs (this one included)."""
        try:
            keys = [str(key) async for key in self.redis.scan_iter(match=self.node_key("*"), count=200)]
            urls = await self.redis.mget(keys) if keys else []
        except UNANSWERED as exc:
            raise FleetUnavailable(f"the node registry did not answer: {exc}") from None
        start = len(self.node_key(""))
        return {key[start:]: str(url) for key, url in zip(keys, urls, strict=True) if url}

    async def holders(self, business_id: str) -> dict[str, list[str]]:
        """Other live nodes holding calls of `business_id`: node -> call ids. FleetUnavailable if
        Redis does not answer. Entries of dead nodes are deleted on the way."""
        try:
            raw = await self.redis.hgetall(self.calls_key(business_id))
            entries = {str(k): str(v) for k, v in raw.items()}
            alive = await self._alive({n for n in entries.values() if n != self.node})
            dead = [call_id for call_id, node in entries.items() if node != self.node and node not in alive]
            if dead:
                await self.redis.hdel(self.calls_key(business_id), *dead)
        except UNANSWERED as exc:
            raise FleetUnavailable(f"the call registry did not answer: {exc}") from None
        out: dict[str, list[str]] = {}
        for call_id, node in entries.items():
            if node in alive:
                out.setdefault(node, []).append(call_id)
        return out

    async def holder(self, business_id: str, call_id: str) -> str | None:
        """The other live node that holds `call_id` of `business_id`, if any."""
        try:
            found = await self.redis.hget(self.calls_key(business_id), call_id)
            if found is None or str(found) == self.node:
                return None
            node = str(found)
            return node if await self._alive({node}) else None
        except UNANSWERED as exc:
            raise FleetUnavailable(f"the call registry did not answer: {exc}") from None

    async def _alive(self, nodes: set[str]) -> set[str]:
        if not nodes:
            return set()
        ordered = sorted(nodes)
        urls = await self.redis.mget([self.node_key(n) for n in ordered])
        return {n for n, url in zip(ordered, urls, strict=True) if url}

    async def url_of(self, node: str) -> str | None:
        try:
            url = await self.redis.get(self.node_key(node))
            return None if url is None else str(url)
        except UNANSWERED as exc:
            raise FleetUnavailable(f"the node registry did not answer: {exc}") from None

    # -- bus -----------------------------------------------------------------------------------

    async def ask(self, node: str, request: dict[str, Any]) -> dict[str, Any]:
        """Send `request` to `node`'s handler and return its reply; FleetUnavailable when Redis or
        the node does not answer within `timeout_s`."""
        ask_id = f"{self.node}:{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ask_id] = future
        try:
            message = json.dumps({**request, "ask": ask_id, "reply_to": self.node})
            receivers = await self.redis.publish(self.channel(node), message)
            if not receivers:
                raise FleetUnavailable(f"node {node} is not listening")
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise FleetUnavailable(f"node {node} did not answer within {self.timeout_s} s") from None
        except UNANSWERED as exc:
            raise FleetUnavailable(f"the bus did not answer: {exc}") from None
        finally:
            self._pending.pop(ask_id, None)

    async def _listen(self, handler: Handler) -> None:
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(self.channel(self.node))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._received(message.get("data"), handler)
            except UNANSWERED as exc:
                log.debug("fleet: bus lost (%s); listening again", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(*UNANSWERED):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _received(self, data: object, handler: Handler) -> None:
        if not isinstance(data, str) or len(data) > MAX_MESSAGE:
            self.dropped_messages += 1
            return
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("ask"), str):
            self.dropped_messages += 1
            return
        if "reply" in message:
            future = self._pending.get(message["ask"])
            if future is not None and not future.done() and isinstance(message["reply"], dict):
                future.set_result(message["reply"])
            return
        task = asyncio.create_task(self._handle(message, handler))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _handle(self, message: dict[str, Any], handler: Handler) -> None:
        reply_to = message.get("reply_to")
        if not isinstance(reply_to, str):
            return
        if self._handling.locked():
            reply: dict[str, Any] = {"status": 503, "detail": f"node {self.node} is busy"}
        else:
            async with self._handling:
                try:
                    reply = await asyncio.wait_for(handler(message), self.timeout_s)
                except Exception:
                    log.exception("fleet: request %s failed", message.get("op"))
                    reply = {"status": 500, "detail": "the node holding the call failed"}
        with contextlib.suppress(*UNANSWERED):
            await self.redis.publish(
                self.channel(reply_to), json.dumps({"ask": message["ask"], "reply": reply})
            )
