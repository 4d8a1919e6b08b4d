"""Call events to a business's own URL: `call.started` (answered) and `call.ended` (with the whole
record), signed as tool webhooks are (`core.webhooks.sign`, the business's key), retried with
exponential backoff on timeouts, connection failures, 408, 429 and 5xx; other 4xx answers end it.

Deliveries run in background tasks, at most `max_pending` at once (beyond that an event is counted
as dropped and logged: a business's dead endpoint must not hold the node's memory).
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from voicegrid.core.webhooks import public_destination, sign

log = logging.getLogger(__name__)

RETRY_STATUSES = {408, 429}


class WebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        attempts: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        max_pending: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.allow_private, self.attempts, self.backoff_s = allow_private, attempts, backoff_s
        self.timeout_s, self.max_pending, self.clock = timeout_s, max_pending, clock
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = self.failed = self.dropped = 0

    def send(self, url: str, key: bytes, event: str, data: dict[str, Any]) -> None:
        if len(self._tasks) >= self.max_pending:
            self.dropped += 1
            log.warning("webhook %s to %s dropped: %d deliveries pending", event, url, len(self._tasks))
            return
        task = asyncio.get_running_loop().create_task(self._deliver(url, key, event, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, key: bytes, event: str, data: dict[str, Any]) -> None:
        if not (self.allow_private or await public_destination(url)):
            self.failed += 1
            log.warning("webhook %s not sent: %s is not a public address", event, url)
            return
        body = json.dumps({"event": event, "data": data}, separators=(",", ":"), default=str).encode()
        for attempt in range(self.attempts):
            headers = {
                "Content-Type": "application/json",
                "X-Voicegrid-Event": event,
                "X-Voicegrid-Signature": sign(key, body, self.clock()),
                "X-Voicegrid-Attempt": str(attempt + 1),
            }
            try:
                async with asyncio.timeout(self.timeout_s):
                    response = await self._client.post(url, content=body, headers=headers)
                if response.is_success:
                    self.delivered += 1
                    return
                if response.status_code < 500 and response.status_code not in RETRY_STATUSES:
                    break  # the endpoint refuses this event: retrying would not change it
            except (httpx.HTTPError, TimeoutError) as exc:
                log.info("webhook %s to %s, attempt %d: %s", event, url, attempt + 1, exc)
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        self.failed += 1
        log.warning("webhook %s to %s failed after %d attempts", event, url, attempt + 1)

    async def aclose(self, grace_s: float = 2.0) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
        await self._client.aclose()
