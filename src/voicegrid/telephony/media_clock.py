"""The one media clock of the process: a single task wakes once per busy sub-slot and lets the
streams due in that slot send their packet. No call has a sleep loop of its own; with no call, the
clock sleeps until a stream registers.

Each stream's `on_tick(scheduled, now)` is called at its turn; it sends one packet (audio, or
comfort silence when nothing is queued) and may use `now - scheduled` as its lateness.

A media stream (carrier, browser) whose audio comes after silence is `hurry`-ed to the next
sub-slot: a reply's first message leaves within a sub-slot (5 ms) of its audio, not up to a period
(20 ms) later. RTP sessions are not: see `RtpSession.queue`.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from voicegrid.media.clock import MediaSchedule

log = logging.getLogger(__name__)
Tick = Callable[[float, float], None]


class Stream(Protocol):
    def on_tick(self, scheduled: float, now: float) -> None: ...


class MediaClock:
    def __init__(
        self, period_s: float = 0.020, slots: int = 4, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # time.monotonic, not loop.time(): uvloop's loop time is a cached millisecond count, too
        # coarse to schedule 1 ms sub-slots or to measure lateness against them.
        self.clock = clock
        self.schedule = MediaSchedule(period_s, slots)
        self._streams: dict[int, Stream] = {}
        self._task: asyncio.Task[None] | None = None
        self._registered = asyncio.Event()
        self.ticks = 0
        self.overruns = 0  # slots that started after the next one was due
        self.hurried = 0  # streams moved to an earlier phase for audio that came after silence
        self._start: float | None = None
        self._tick = 0  # the next tick to run
        self._due = 0  # the tick the clock sleeps until
        self._waker: asyncio.Future[bool] | None = None  # while it sleeps: True if woken early

    def now(self) -> float:
        """The time the clock ticks on (monotonic seconds; a test's virtual time)."""
        return self.clock()

    def register(self, stream: Stream) -> None:
        self._streams[id(stream)] = stream
        self.schedule.add(id(stream))
        self._registered.set()

    def unregister(self, stream: Stream) -> None:
        self._streams.pop(id(stream), None)
        self.schedule.remove(id(stream))

    def hurry(self, stream: object) -> None:
        """Move `stream` to the next sub-slot, if its own turn comes later in the period; from then on
        it is ticked every period on that phase. For streams that send nothing while quiet."""
        key = id(stream)
        slot = self.schedule.slot_of(key)
        if slot is None or self._start is None:
            return
        nearest = max(self._tick, int((self.clock() - self._start) / self.schedule.slot_s) + 1)
        if nearest % self.schedule.slots == slot:
            return
        self.schedule.move(key, nearest % self.schedule.slots)
        self.hurried += 1
        if self._waker is not None and nearest < self._due and not self._waker.done():
            self._waker.set_result(True)  # it slept past that slot, which had no stream: wake it

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._start = start = self.clock()
        slot_s = self.schedule.slot_s
        tick = 0
        while True:
            self._tick = tick
            due = self.schedule.next_due(tick)
            if due is None:  # no stream: sleep until one comes, then go on from the current slot
                self._registered.clear()
                await self._registered.wait()
                tick = max(tick, int((self.clock() - start) / slot_s) + 1)
                continue
            scheduled = start + due * slot_s
            delay = scheduled - self.clock()
            if delay > 0:
                self._due, self._waker = due, loop.create_future()
                timer = loop.call_later(delay, _wake, self._waker)
                hurried = await self._waker
                timer.cancel()
                self._waker = None
                if hurried:  # a stream was moved to a slot before `due`
                    continue
            tick = due
            self._tick = tick + 1
            now = self.clock()
            if now - scheduled > slot_s:
                self.overruns += 1
            for key in self.schedule.due(tick):
                stream = self._streams.get(key)  # type: ignore[call-overload]
                if stream is None:
                    continue
                try:
                    stream.on_tick(scheduled, now)
                except Exception:  # one broken stream must not silence every other call
                    log.exception("media stream tick failed; removing it")
                    self.unregister(stream)
            self.ticks += 1
            tick += 1


def _wake(waker: "asyncio.Future[bool]") -> None:
    if not waker.done():
        waker.set_result(False)
