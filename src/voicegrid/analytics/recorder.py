"""Every call leaves a record, whatever the store is doing.

`Recorder.record()` writes the record to the journal first and returns; a drain task then hands
journaled records to the store (`write`, injected by the composition root) in order, in batches, with a
timeout. While the store fails, records wait in the journal and are retried every `retry_s`; they are
never dropped. `store_ok` says whether the last attempt worked (for health and metrics).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from voicegrid.analytics.journal import Journal

log = logging.getLogger(__name__)

Write = Callable[[list[dict[str, Any]]], Awaitable[None]]


class Recorder:
    def __init__(self, journal: Journal, write: Write, retry_s: float = 2.0, timeout_s: float = 10.0) -> None:
        self.journal, self.write, self.retry_s, self.timeout_s = journal, write, retry_s, timeout_s
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.store_ok = True
        self.recorded = 0
        self.stored = 0

    async def record(self, record: dict[str, Any]) -> None:
        await self.journal.append(record)
        self.recorded += 1
        self._kick.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="call-records")

    async def aclose(self) -> None:
        """Stop after one last attempt to store what is journaled (what fails stays journaled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.drain()

    async def _run(self) -> None:
        await self.drain()  # what an earlier run left in the journal
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_s):
                    await self._kick.wait()
            self._kick.clear()
            await self.drain()

    async def drain(self) -> int:
        """Store journaled records, oldest first; returns how many. Failures leave them journaled."""
        done = 0
        while True:
            records, offset = await self.journal.pending()
            if not records:
                return done
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.write(records)
            except Exception as exc:  # any store failure: the records stay in the journal
                if self.store_ok:
                    log.warning(
                        "call records: store unavailable (%s); %d waiting in the journal", exc, len(records)
                    )
                self.store_ok = False
                return done
            await self.journal.mark(offset)
            if not self.store_ok:
                log.warning("call records: store is back")
            self.store_ok = True
            self.stored += len(records)
            done += len(records)
