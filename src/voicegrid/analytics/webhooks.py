"""Call events to a business's own URL: `call.started` (answered) and `call.ended` (with the whole
record), signed as tool webhooks are (`core.webhooks.sign`, the business's key).

Durable: an event is written to the node's outbox (one file per delivery, fsynced, renamed into
place) before its first try, and stays there until the endpoint took it or it was given up. A node
that stops or crashes with events waiting sends them when it starts again, with the same delivery id
and the attempt count carried on. With `shared` (the database's outbox, `analytics/shared_outbox`),
every node sees every event: a node that dies has its events sent by another once its lease lapses,
and the delivery log is the same on every node.

Retries: timeouts, connection failures, 408, 429 and 5xx are retried with exponential backoff (1 s,
2 s, 4 s, ... capped at `max_backoff_s`); by default 16 attempts over about four hours, after which
the event is given up and logged. Any other 4xx ends it at once: the endpoint refuses that event.

Delivery is at least once and in no guaranteed order (a retried event can arrive after a newer
one): `X-Voicegrid-Delivery` names the delivery, for the receiver to drop repeats; the record's own
times order the events of a call.

The signing key is not stored: the business id is, and the key is derived when each attempt is signed.
At most `max_pending` events wait on a node (beyond that an event is counted as dropped and logged: a
business's dead endpoint must not fill the node's disk), and at most `concurrency` attempts run at once.
Of each answer only its status is used, and at most `MAX_ANSWER_BYTES` of its body is read (an
endpoint that streams without end holds that much of our memory, not what it sends).
"""

import asyncio
import contextlib
import functools
import heapq
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegrid.analytics.errors import OutboxError
from voicegrid.analytics.outbox import Delivery, Outbox
from voicegrid.core.egress import STRICT, DestinationRefused, Destinations, DestinationUnresolved
from voicegrid.core.errors import HttpError, HttpRequestRefused
from voicegrid.core.http_client import HttpClient
from voicegrid.core.ids import new_id
from voicegrid.core.webhooks import sign

if TYPE_CHECKING:
    from voicegrid.analytics.shared_outbox import SharedDeliveries

log = logging.getLogger(__name__)

RETRY_STATUSES = {408, 429}
MAX_ANSWER_BYTES = 64 * 1024  # of an endpoint's answer, only the status is used
IDLE_PER_ENDPOINT = 2  # connections kept to one endpoint between its events


class WebhookSender:
    def __init__(
        self,
        outbox_dir: Path,
        signing_key: Callable[[str], bytes],
        *,
        destinations: Destinations = STRICT,
        attempts: int = 16,
        backoff_s: float = 1.0,
        max_backoff_s: float = 3600.0,
        timeout_s: float = 5.0,
        max_pending: int = 10_000,
        concurrency: int = 32,
        clock: Callable[[], float] = time.time,
        on_result: Callable[[str], None] = lambda _result: None,
        shared: "SharedDeliveries | None" = None,
    ) -> None:
        self.shared = shared  # the database's outbox, which the other nodes see (None: this node's only)
        self._unshared: dict[str, tuple[Delivery, str]] = {}  # not yet in it: (delivery, "keep"|end state)
        self.outbox, self.signing_key = Outbox(outbox_dir), signing_key
        self.attempts, self.backoff_s = attempts, backoff_s
        self.max_backoff_s, self.timeout_s, self.max_pending = max_backoff_s, timeout_s, max_pending
        self.concurrency, self.clock, self.on_result = concurrency, clock, on_result
        # every attempt goes to the address it checked; no redirect is followed
        self._client = HttpClient(
            destinations,
            connect_timeout_s=timeout_s,
            read_timeout_s=timeout_s,
            max_connections=2 * concurrency,
            max_idle=IDLE_PER_ENDPOINT,
        )
        self._due: list[tuple[float, int, Delivery]] = []  # a heap by next attempt
        self._seq = 0
        self._waiting: dict[str, Delivery] = {}  # in the outbox, due later or being tried: the latest state
        self._given_up: deque[Delivery] = deque(maxlen=500)  # recent failures, for the delivery log
        self._trying: dict[str, asyncio.Task[None]] = {}  # attempts under way, by delivery id
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sharing: asyncio.Task[None] | None = None
        self.delivered = self.failed = self.dropped = 0

    @property
    def destinations(self) -> Destinations:
        return self._client.destinations

    @destinations.setter
    def destinations(self, policy: Destinations) -> None:
        self._client.destinations = policy

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def delay_s(self, attempt: int) -> float:
        """The wait after `attempt` failed attempts (1, 2, 3, ...)."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** min(attempt - 1, 62)))

    async def start(self) -> None:
        """Take up what an earlier run left in the outbox, then send as events come."""
        earlier = [d for d in await self.outbox.load() if d.id not in self._waiting]
        if self.shared is not None and earlier:
            try:  # another node may have taken them over while this one was away
                elsewhere = await self.shared.taken_by_others([d.id for d in earlier], self.clock())
            except Exception as exc:
                log.warning("webhooks: the shared outbox cannot be read (%s): sending all", exc)
                elsewhere = set()
            for delivery_id in elsewhere:
                await self.outbox.remove(delivery_id)
            earlier = [d for d in earlier if d.id not in elsewhere]
        for delivery in earlier:
            self._schedule(delivery)
        if earlier:
            log.info("webhooks: %d events from an earlier run to send", len(earlier))
        self._task = asyncio.create_task(self._run(), name="webhooks")
        if self.shared is not None:
            self._sharing = asyncio.create_task(self._share_loop(self.shared), name="webhooks-shared")

    async def send(self, url: str, business_id: str, event: str, data: dict[str, Any]) -> None:
        """Queue an event: on disk before this returns (or sent from memory if the disk fails)."""
        if len(self._waiting) >= self.max_pending:
            self.dropped += 1
            self.on_result("dropped")
            log.warning("webhook %s to %s dropped: %d deliveries pending", event, url, len(self._waiting))
            return
        now = self.clock()
        body = json.dumps({"event": event, "data": data}, separators=(",", ":"), default=str)
        call_id = str(data.get("id") or "")
        delivery = Delivery(new_id("whd"), url, business_id, event, body, 0, now, now, call_id)
        self._waiting[delivery.id] = delivery  # counted at once, while the file is written
        await self._keep(delivery)

    async def _keep(self, delivery: Delivery) -> None:
        """Write the delivery's outbox file, then schedule it (from memory alone if the disk fails)."""
        try:
            await self.outbox.save(delivery)
        except OutboxError as exc:
            log.warning(
                "webhook %s to %s: %s; it is tried from memory only", delivery.event, delivery.url, exc
            )
        await self._share(delivery, "keep")
        self._schedule(delivery)

    async def _share(self, delivery: Delivery, what: str) -> None:
        """Tell the shared outbox (`keep`, `delivered`, `given_up`); when the database is away, the
        sharing loop tells it later."""
        if self.shared is None:
            return
        try:
            if what == "keep":
                await self.shared.keep(delivery, self.clock())
            else:
                await self.shared.finish(delivery, delivered=what == "delivered", now=self.clock())
            self._unshared.pop(delivery.id, None)
        except Exception as exc:
            if not self._unshared:
                log.warning("webhooks: the shared outbox cannot be written (%s); trying again", exc)
            self._unshared[delivery.id] = (delivery, what)

    async def _share_loop(self, shared: "SharedDeliveries") -> None:
        """Every third of a lease: what the database missed, the lease of this node's events, and
        the events of nodes whose lease lapsed (taken over, sent from here)."""
        while True:
            try:
                for delivery, what in list(self._unshared.values()):
                    await self._share(delivery, what)
                await shared.renew(self.clock())
                for delivery in await shared.take_over(self.clock()):
                    if delivery.id not in self._waiting:
                        with contextlib.suppress(OutboxError):
                            await self.outbox.save(delivery)
                        self._schedule(delivery)
            except Exception as exc:
                log.warning("webhooks: the shared outbox did not answer: %s", exc)
            await asyncio.sleep(shared.lease_s / 3)

    def _schedule(self, delivery: Delivery) -> None:
        self._waiting[delivery.id] = delivery
        self._seq += 1
        heapq.heappush(self._due, (delivery.next_at, self._seq, delivery))
        self._kick.set()

    async def _run(self) -> None:
        while True:
            now = self.clock()
            while self._due and self._due[0][0] <= now and len(self._trying) < self.concurrency:
                delivery = heapq.heappop(self._due)[2]
                if self._waiting.get(delivery.id) is not delivery:
                    continue  # rescheduled since (a retry asked for now), or finished
                task = asyncio.create_task(self._attempt_guarded(delivery))
                self._trying[delivery.id] = task
                task.add_done_callback(functools.partial(self._tried, delivery.id))
            wait = None
            if self._due and len(self._trying) < self.concurrency:
                wait = max(0.0, self._due[0][0] - now)
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._kick.wait()

    def _tried(self, delivery_id: str, _task: "asyncio.Task[None]") -> None:
        self._trying.pop(delivery_id, None)
        self._kick.set()  # a slot is free

    async def _post(self, delivery: Delivery) -> tuple[int | None, str]:
        """The endpoint's status, or None and why it could not answer in time."""
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "X-Voicegrid-Event": delivery.event,
            "X-Voicegrid-Delivery": delivery.id,
            "X-Voicegrid-Signature": sign(self.signing_key(delivery.business_id), body, self.clock()),
            "X-Voicegrid-Attempt": str(delivery.attempt + 1),
        }
        try:
            async with asyncio.timeout(self.timeout_s):
                reply = await self._client.request(
                    "POST", delivery.url, headers, body, max_body=MAX_ANSWER_BYTES
                )
        except HttpRequestRefused:
            raise  # no request can be made of that URL: another try would not change it
        except (HttpError, TimeoutError, DestinationUnresolved) as exc:
            timed_out = isinstance(exc, TimeoutError)
            why = f"no answer within {self.timeout_s:g} s" if timed_out else str(exc) or type(exc).__name__
            attempt = delivery.attempt + 1
            log.info("webhook %s to %s, attempt %d: %s", delivery.event, delivery.url, attempt, why)
            return None, why
        return reply.status, ""

    async def _attempt_guarded(self, delivery: Delivery) -> None:
        try:
            await self._attempt(delivery)
        except Exception as exc:  # a bug here must not strand the event: it is tried again, as a failure
            log.exception("webhook %s to %s: attempt failed unexpectedly", delivery.event, delivery.url)
            why = f"internal error: {exc}"
            await self._again(
                replace(delivery, attempt=delivery.attempt + 1, last_status=None, last_error=why)
            )

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            status, why = await self._post(delivery)
        except DestinationRefused as exc:
            log.warning("webhook %s not sent to %s: %s", delivery.event, delivery.url, exc.reason)
            why = f"{exc.reason} (VOICEGRID_ALLOW_PRIVATE_DESTINATIONS is off)"
            return await self._finish(replace(delivery, last_error=why), delivered=False)
        except HttpRequestRefused as exc:
            log.warning("webhook %s not sent: %s", delivery.event, exc)
            return await self._finish(
                replace(delivery, last_error=f"not a URL we call: {exc}"), delivered=False
            )
        tried = replace(delivery, attempt=delivery.attempt + 1, last_status=status, last_error=why)
        if status is not None and 200 <= status < 300:
            return await self._finish(tried, delivered=True)
        if status is not None and status < 500 and status not in RETRY_STATUSES:
            log.warning("webhook %s to %s refused (%s): given up", delivery.event, delivery.url, status)
            return await self._finish(tried, delivered=False)  # retrying would not change a refusal
        await self._again(tried)

    async def _again(self, delivery: Delivery) -> None:
        """Schedule the next attempt after a failed one (counted in `delivery.attempt`), or give the
        event up after the last."""
        if delivery.attempt >= self.attempts:
            log.warning(
                "webhook %s to %s given up after %d attempts", delivery.event, delivery.url, delivery.attempt
            )
            return await self._finish(delivery, delivered=False)
        await self._keep(replace(delivery, next_at=self.clock() + self.delay_s(delivery.attempt)))

    async def _finish(self, delivery: Delivery, *, delivered: bool) -> None:
        if delivered:
            self.delivered += 1
        else:
            self.failed += 1
            self._given_up.append(delivery)
        self.on_result("delivered" if delivered else "failed")
        self._waiting.pop(delivery.id, None)
        await self._share(delivery, "delivered" if delivered else "given_up")
        await self.outbox.remove(delivery.id)

    # ---- the delivery log, for the business -------------------------------------------------------
    def log_of(self, business_id: str) -> dict[str, list[dict[str, Any]]]:
        """This node's events for the business still to be sent, and those it gave up, newest first."""
        waiting = [d for d in self._waiting.values() if d.business_id == business_id]
        given_up = [d for d in self._given_up if d.business_id == business_id]
        newest = sorted(waiting, key=lambda d: d.created_at, reverse=True)
        return {"waiting": [d.view() for d in newest], "given_up": [d.view() for d in reversed(given_up)]}

    async def delivery_log(self, business_id: str) -> dict[str, list[dict[str, Any]]]:
        """The business's waiting and given-up events on every node (the shared outbox), else this
        node's alone."""
        if self.shared is not None:
            try:
                waiting, given_up = await self.shared.log_of(business_id)
                return {"waiting": [d.view() for d in waiting], "given_up": [d.view() for d in given_up]}
            except Exception as exc:
                log.warning("webhooks: the shared outbox cannot be read (%s): this node's log", exc)
        return self.log_of(business_id)

    async def retry_now(self, business_id: str) -> int:
        """Try the business's waiting events now, and the ones it gave up once more, with a fresh
        count of attempts and the same delivery ids. Returns how many are on their way."""
        now, count = self.clock(), 0
        for delivery in list(self._waiting.values()):
            if delivery.business_id == business_id and delivery.id not in self._trying:
                self._schedule(replace(delivery, next_at=now))
                count += 1
        revived = [d for d in self._given_up if d.business_id == business_id]
        for delivery in revived:
            self._given_up.remove(delivery)
            await self._keep(replace(delivery, attempt=0, next_at=now))
            count += 1
        if self.shared is not None:  # given up on other nodes
            for delivery in await self.shared.revive(business_id, now):
                if delivery.id not in self._waiting:
                    await self._keep(delivery)
                    count += 1
        return count

    async def aclose(self, grace_s: float = 2.0) -> None:
        """Stop; attempts under way get `grace_s` to finish. What waits stays in the outbox for the next
        start."""
        if self._sharing is not None:
            self._sharing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sharing
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._trying:
            _, unfinished = await asyncio.wait(set(self._trying.values()), timeout=grace_s)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self._client.aclose()
