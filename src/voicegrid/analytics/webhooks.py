"""Call events to a business's own URL: `call.started` (answered) and `call.ended` (with the whole
record), signed as tool webhooks are (`core.webhooks.sign`, the business's key).

Durable: an event is written to the node's outbox (one file per delivery, fsynced, renamed into
place) before its first try, and stays there until the endpoint took it or it was given up. A node
that stops or crashes with events waiting sends them when it starts again, with the same delivery id
and the attempt count carried on.

Retries: timeouts, connection failures, 408, 429 and 5xx are retried with exponential backoff (1 s,
2 s, 4 s, ... capped at `max_backoff_s`); by default 16 attempts over about four hours, after which
the event is given up and logged. Any other 4xx ends it at once: the endpoint refuses that event.

Delivery is at least once and in no guaranteed order (a retried event can arrive after a newer
one): `X-Voicegrid-Delivery` names the delivery, for the receiver to drop repeats; the record's own
times order the events of a call.

The signing key is not stored: the business id is, and the key is derived when each attempt is signed.
At most `max_pending` events wait on a node (beyond that an event is counted as dropped and logged: a
business's dead endpoint must not fill the node's disk), and at most `concurrency` attempts run at once.
"""

import asyncio
import contextlib
import heapq
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from voicegrid.analytics.errors import OutboxError
from voicegrid.core.ids import new_id
from voicegrid.core.webhooks import destination_is_public, sign

log = logging.getLogger(__name__)

RETRY_STATUSES = {408, 429}
MAX_FILE_BYTES = 8 * 1024 * 1024  # a call record is at most 4 MB (the journal's bound), JSON-quoted once more
EVENTS = ("call.started", "call.ended")
DELIVERY_ID = re.compile(r"whd_[0-9A-Z]{26}")  # it names the file: nothing else may


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    url: str
    business_id: str
    event: str
    body: str  # the exact bytes signed and sent, as UTF-8 text
    attempt: int  # attempts made so far
    next_at: float  # unix time of the next attempt
    created_at: float


def parse_delivery(raw: bytes) -> Delivery:
    """A delivery from its outbox file; OutboxError for anything that is not one we wrote."""
    if len(raw) > MAX_FILE_BYTES:
        raise OutboxError(f"delivery file is {len(raw)} bytes, over {MAX_FILE_BYTES}")
    try:
        fields = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise OutboxError(f"delivery file is not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise OutboxError("delivery file is not a JSON object")
    texts = ("id", "url", "business_id", "event", "body")
    if not all(isinstance(fields.get(k), str) for k in texts):
        raise OutboxError(f"delivery file lacks one of {', '.join(texts)} as text")
    numbers = ("next_at", "created_at")
    attempt = fields.get("attempt")
    if (
        not all(type(fields.get(k)) in (int, float) for k in numbers)
        or type(attempt) is not int
        or attempt < 0
    ):
        raise OutboxError("delivery file has no valid attempt, next_at or created_at")
    if not DELIVERY_ID.fullmatch(fields["id"]):
        raise OutboxError(f"delivery file has id {fields['id'][:40]!r}")
    if fields["event"] not in EVENTS or not fields["url"].startswith(("http://", "https://")):
        raise OutboxError(f"delivery file has event {fields['event']!r} or url {fields['url']!r}")
    return Delivery(**{k: fields[k] for k in (*texts, "attempt", *numbers)})


class Outbox:
    """One file per waiting delivery, `<id>.json`, written atomically; file work runs in a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _save(self, delivery: Delivery) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{delivery.id}.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(json.dumps(asdict(delivery), separators=(",", ":")).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    async def save(self, delivery: Delivery) -> None:
        try:
            await asyncio.to_thread(self._save, delivery)
        except OSError as exc:
            raise OutboxError(f"webhook outbox not written: {exc}") from exc

    async def remove(self, delivery_id: str) -> None:
        path = self.directory / f"{delivery_id}.json"
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:  # it would be sent once more after a restart: logged, not fatal
            log.warning("webhook outbox: %s not removed: %s", path.name, exc)

    def _load(self) -> list[Delivery]:
        found: list[Delivery] = []
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("*.json")):
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise OutboxError(f"{path.stat().st_size} bytes, over {MAX_FILE_BYTES}")
                found.append(parse_delivery(path.read_bytes()))
            except (OSError, OutboxError) as exc:  # kept aside for a person to look at, never resent
                log.warning("webhook outbox: %s set aside: %s", path.name, exc)
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".bad"))
        return found

    async def load(self) -> list[Delivery]:
        """Every waiting delivery, as an earlier run left them."""
        return await asyncio.to_thread(self._load)


class WebhookSender:
    def __init__(
        self,
        outbox_dir: Path,
        signing_key: Callable[[str], bytes],
        *,
        allow_private: bool = False,
        attempts: int = 16,
        backoff_s: float = 1.0,
        max_backoff_s: float = 3600.0,
        timeout_s: float = 5.0,
        max_pending: int = 10_000,
        concurrency: int = 32,
        clock: Callable[[], float] = time.time,
        on_result: Callable[[str], None] = lambda _result: None,
    ) -> None:
        self.outbox, self.signing_key = Outbox(outbox_dir), signing_key
        self.allow_private, self.attempts, self.backoff_s = allow_private, attempts, backoff_s
        self.max_backoff_s, self.timeout_s, self.max_pending = max_backoff_s, timeout_s, max_pending
        self.concurrency, self.clock, self.on_result = concurrency, clock, on_result
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._due: list[tuple[float, int, Delivery]] = []  # a heap by next attempt
        self._seq = 0
        self._ids: set[str] = set()  # waiting in the outbox: due later, or being tried
        self._trying: set[asyncio.Task[None]] = set()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = self.failed = self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._ids)

    def delay_s(self, attempt: int) -> float:
        """The wait after `attempt` failed attempts (1, 2, 3, ...)."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** min(attempt - 1, 62)))

    async def start(self) -> None:
        """Take up what an earlier run left in the outbox, then send as events come."""
        earlier = [d for d in await self.outbox.load() if d.id not in self._ids]
        for delivery in earlier:
            self._ids.add(delivery.id)
            self._schedule(delivery)
        if earlier:
            log.info("webhooks: %d events from an earlier run to send", len(earlier))
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def send(self, url: str, business_id: str, event: str, data: dict[str, Any]) -> None:
        """Queue an event: on disk before this returns (or sent from memory if the disk fails)."""
        if len(self._ids) >= self.max_pending:
            self.dropped += 1
            self.on_result("dropped")
            log.warning("webhook %s to %s dropped: %d deliveries pending", event, url, len(self._ids))
            return
        now = self.clock()
        body = json.dumps({"event": event, "data": data}, separators=(",", ":"), default=str)
        delivery = Delivery(new_id("whd"), url, business_id, event, body, 0, now, now)
        self._ids.add(delivery.id)
        try:
            await self.outbox.save(delivery)
        except OutboxError as exc:
            log.warning("webhook %s to %s: %s; it is tried from memory only", event, url, exc)
        self._schedule(delivery)

    def _schedule(self, delivery: Delivery) -> None:
        self._seq += 1
        heapq.heappush(self._due, (delivery.next_at, self._seq, delivery))
        self._kick.set()

    async def _run(self) -> None:
        while True:
            now = self.clock()
            while self._due and self._due[0][0] <= now and len(self._trying) < self.concurrency:
                delivery = heapq.heappop(self._due)[2]
                task = asyncio.create_task(self._attempt_guarded(delivery))
                self._trying.add(task)
                task.add_done_callback(self._tried)
            wait = None
            if self._due and len(self._trying) < self.concurrency:
                wait = max(0.0, self._due[0][0] - now)
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._kick.wait()

    def _tried(self, task: asyncio.Task[None]) -> None:
        self._trying.discard(task)
        self._kick.set()  # a slot is free

    async def _post(self, delivery: Delivery) -> int | None:
        """The endpoint's status, or None when it could not be reached in time."""
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
                response = await self._client.post(delivery.url, content=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.info(
                "webhook %s to %s, attempt %d: %s", delivery.event, delivery.url, delivery.attempt + 1, exc
            )
            return None
        return response.status_code

    async def _attempt_guarded(self, delivery: Delivery) -> None:
        try:
            await self._attempt(delivery)
        except Exception:  # a bug here must not strand the event: it is tried again, as a failure
            log.exception("webhook %s to %s: attempt failed unexpectedly", delivery.event, delivery.url)
            await self._again(delivery, delivery.attempt + 1)

    async def _attempt(self, delivery: Delivery) -> None:
        public = True if self.allow_private else await destination_is_public(delivery.url)
        if public is False:
            log.warning("webhook %s not sent: %s is not a public address", delivery.event, delivery.url)
            return await self._finish(delivery, delivered=False)
        status = None if public is None else await self._post(delivery)  # None: no answer (DNS)
        if status is not None and 200 <= status < 300:
            return await self._finish(delivery, delivered=True)
        tried = delivery.attempt + 1
        refused = status is not None and status < 500 and status not in RETRY_STATUSES
        if refused or tried >= self.attempts:  # a refusal: retrying would not change it
            log.warning(
                "webhook %s to %s given up after %d attempts (%s)",
                delivery.event,
                delivery.url,
                tried,
                status,
            )
            return await self._finish(delivery, delivered=False)
        await self._again(delivery, tried)

    async def _again(self, delivery: Delivery, tried: int) -> None:
        """Schedule the next attempt after `tried` attempts, or give the event up after the last."""
        if tried >= self.attempts:
            return await self._finish(delivery, delivered=False)
        again = Delivery(
            **{**asdict(delivery), "attempt": tried, "next_at": self.clock() + self.delay_s(tried)}
        )
        try:
            await self.outbox.save(again)
        except OutboxError as exc:
            log.warning("webhook %s to %s: %s", delivery.event, delivery.url, exc)
        self._schedule(again)

    async def _finish(self, delivery: Delivery, *, delivered: bool) -> None:
        if delivered:
            self.delivered += 1
        else:
            self.failed += 1
        self.on_result("delivered" if delivered else "failed")
        self._ids.discard(delivery.id)
        await self.outbox.remove(delivery.id)

    async def aclose(self, grace_s: float = 2.0) -> None:
        """Stop; attempts under way get `grace_s` to finish. What waits stays in the outbox for the next
        start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._trying:
            _, unfinished = await asyncio.wait(set(self._trying), timeout=grace_s)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self._client.aclose()
