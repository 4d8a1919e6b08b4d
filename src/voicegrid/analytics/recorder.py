"""Every call leaves a record, whatever the store is doing.

`Recorder.record()` writes the record to the journal first and returns; a drain task then hands
journaled records to the store (`write`, injected by the composition root) in order, in batches, with a
timeout. While the store is away, records wait in the journal and are retried with a backoff from
`retry_s` up to `max_retry_s`; they are never dropped. After a record comes, the drain waits
`gather_s` for the records ending near it, so that they share one transaction (what a batch costs
hardly depends on its size); the journal holds them meanwhile.

The store may also refuse a record itself (a field too long, a constraint: `refused(exc)` says which
errors mean that, as opposed to the store being away). Then the batch is written one record at a
time: the one refused is set aside alone, with its reason, in the dead-letter file beside the journal
(`dead-letter.jsonl`, counted in `dead_lettered`), and every record behind it is stored.

The drain task never dies: any error of its own (the journal's disk, a bug) is logged, retried with
the same backoff, and shown as `healthy = False` with `last_error` (in /metrics and /readyz) until a
drain succeeds again. `store_ok` says whether the last store attempt worked.
"""

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from voicegrid.analytics.journal import Journal

log = logging.getLogger(__name__)

Write = Callable[[list[dict[str, Any]]], Awaitable[None]]
Refused = Callable[[Exception], bool]


def _never(_exc: Exception) -> bool:
    return False


class Recorder:
    def __init__(
        self,
        journal: Journal,
        write: Write,
        retry_s: float = 2.0,
        timeout_s: float = 10.0,
        *,
        refused: Refused = _never,
        max_retry_s: float = 60.0,
        gather_s: float = 0.0,
    ) -> None:
        self.journal, self.write, self.retry_s, self.timeout_s = journal, write, retry_s, timeout_s
        self.refused, self.max_retry_s = refused, max_retry_s
        # After a record comes, the drain waits this long for the records ending near it: a batch's
        # transaction costs about 9 ms of CPU however small, a record in it about 0.5 (bench/call_end.py).
        self.gather_s = gather_s
        self.dead_letter = journal.directory / "dead-letter.jsonl"
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.store_ok = True
        self.healthy = True  # the drain itself works (journal readable, no error of its own)
        self.last_error = ""
        self.recorded = 0
        self.stored = 0
        self.dead_lettered = 0
        self.lost = 0  # not even set aside: the journal's and the dead-letter file's disk both failed
        self._failures = 0
        self.stored_listeners: list[Callable[[], None]] = []  # told after each batch reaches the store

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
        with contextlib.suppress(Exception):
            await self.drain()

    @property
    def ok(self) -> bool:
        """Records reach the store and the drain works: what /readyz asks of the record path."""
        return self.healthy and self.store_ok

    def _wait_s(self) -> float:
        if self._failures == 0:
            return self.retry_s
        return float(min(self.max_retry_s, self.retry_s * 2 ** min(self._failures - 1, 20)))

    async def _run(self) -> None:
        while True:
            try:
                await self.drain()
                if not self.healthy:
                    log.warning("call records: the drain works again")
                self.healthy, self.last_error = True, ""
            except Exception as exc:  # the drain must outlive anything: logged, shown, retried
                log.exception("call records: the drain failed; retrying")
                self.healthy, self.last_error = False, f"{type(exc).__name__}: {exc}"[:300]
                self._failures += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait_s()):
                    await self._kick.wait()
            if self._kick.is_set() and self.gather_s > 0:
                await asyncio.sleep(self.gather_s)  # journaled meanwhile: nothing waits at risk
            self._kick.clear()

    async def drain(self) -> int:
        """Store journaled records, oldest first; returns how many. While the store is away they stay
        journaled; a record the store refuses is set aside and the rest go on."""
        done = 0
        while True:
            records, offset = await self.journal.pending()
            if not records:
                return done
            aside = 0
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.write(records)
            except Exception as exc:
                if not self.refused(exc):
                    self._store_away(exc, len(records))
                    return done
                one_by_one = await self._one_by_one(records)
                if one_by_one is None:
                    return done
                aside = one_by_one
            await self.journal.mark(offset)
            self._store_back()
            for listener in self.stored_listeners:
                listener()
            self.stored += len(records) - aside
            done += len(records) - aside

    async def _one_by_one(self, records: list[dict[str, Any]]) -> int | None:
        """Write a batch the store refused one record at a time, setting aside each it refuses; how
        many were set aside, or None when the store went away meanwhile (the batch stays journaled;
        what was written is upserted again later, harmlessly)."""
        aside = 0
        for record in records:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.write([record])
            except Exception as exc:
                if not self.refused(exc):
                    self._store_away(exc, len(records))
                    return None
                await self.set_aside(record, exc)
                aside += 1
        return aside

    async def set_aside(self, record: dict[str, Any], exc: Exception) -> None:
        """Put a record the store will not take in the dead-letter file, with why; if even that
        fails, the record's id and the reasons are logged and counted (`lost`)."""
        cause = exc.__cause__ or exc  # a driver's own error (SQLAlchemy raises from it): no SQL parameters
        reason = f"{type(cause).__name__}: {cause}"[:1000]
        log.error("call record %s set aside: %s", record.get("id"), reason)
        line = json.dumps(
            {"at": time.time(), "reason": reason, "record": record}, separators=(",", ":"), default=str
        )
        try:
            await asyncio.to_thread(self._append_dead_letter, line.encode() + b"\n")
        except OSError as disk:
            self.lost += 1
            log.critical(
                "call record %s lost: %s; dead-letter file not written: %s", record.get("id"), reason, disk
            )
            return
        self.dead_lettered += 1

    def _append_dead_letter(self, line: bytes) -> None:
        self.dead_letter.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dead_letter, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _store_away(self, exc: Exception, waiting: int) -> None:
        if self.store_ok:
            log.warning("call records: store unavailable (%s); %d waiting in the journal", exc, waiting)
        self.store_ok = False
        self._failures += 1

    def _store_back(self) -> None:
        if not self.store_ok:
            log.warning("call records: store is back")
        self.store_ok = True
        self._failures = 0
