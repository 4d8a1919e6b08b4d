"""The media schedule spreads streams over the period; the clock calls each once per period, on its phase."""

import asyncio

import pytest

from voicegrid.media.clock import MediaSchedule
from voicegrid.telephony.media_clock import MediaClock


def test_streams_are_spread_evenly_over_the_sub_slots() -> None:
    schedule = MediaSchedule(0.020, 20)
    for i in range(1000):
        schedule.add(i)
    assert schedule.load() == [50] * 20
    assert len(schedule) == 1000


def test_each_stream_is_due_once_per_period_and_removal_frees_its_place() -> None:
    schedule = MediaSchedule(0.020, 20)
    for i in range(45):
        schedule.add(i)
    seen = [s for tick in range(20) for s in schedule.due(tick)]
    assert sorted(seen) == list(range(45))
    schedule.remove(7)
    assert 7 not in [s for tick in range(20) for s in schedule.due(tick)]
    emptiest = schedule.load().index(min(schedule.load()))
    assert schedule.add(99) == emptiest
    assert len(schedule) == 45


class Recorder:
    def __init__(self, enough: int = 6) -> None:
        self.scheduled: list[float] = []
        self.enough = enough
        self.done = asyncio.Event()

    def on_tick(self, scheduled: float, now: float) -> None:
        self.scheduled.append(scheduled)
        if len(self.scheduled) >= self.enough:
            self.done.set()


class Broken:
    def on_tick(self, scheduled: float, now: float) -> None:
        raise RuntimeError("boom")


async def test_the_clock_ticks_each_stream_every_period_on_distinct_phases() -> None:
    clock = MediaClock(0.020, 20)
    streams = [Recorder() for _ in range(5)]
    for s in streams:
        clock.register(s)
    broken = Broken()
    clock.register(broken)
    clock.start()
    try:
        async with asyncio.timeout(5):
            for s in streams:
                await s.done.wait()
    finally:
        await clock.stop()
    for s in streams:
        gaps = [b - a for a, b in zip(s.scheduled, s.scheduled[1:], strict=False)]
        assert gaps == pytest.approx([0.020] * len(gaps), abs=1e-9)
    phases = {round(s.scheduled[0] % 0.020, 6) for s in streams}
    assert len(phases) == 5  # five streams, five different sub-slots
    assert len(clock.schedule) == 5  # the broken stream was removed, the others went on


def test_the_next_due_tick_skips_empty_slots_and_is_none_without_streams() -> None:
    schedule = MediaSchedule(0.020, 4)
    assert schedule.next_due(0) is None
    schedule.add("a")  # slot 0
    schedule.add("b")  # slot 1
    assert [schedule.next_due(t) for t in range(6)] == [0, 1, 4, 4, 4, 5]
    schedule.remove("a")
    assert schedule.next_due(2) == 5


async def test_an_idle_clock_does_not_wake_and_resumes_on_the_next_slot_when_a_stream_comes() -> None:
    clock = MediaClock(0.020, 4)
    clock.start()
    try:
        await asyncio.sleep(0.1)
        assert clock.ticks == 0  # five periods without a stream: not one waking
        stream = Recorder(enough=5)
        clock.register(stream)
        async with asyncio.timeout(2):
            await stream.done.wait()
        gaps = [b - a for a, b in zip(stream.scheduled, stream.scheduled[1:], strict=False)]
        assert gaps == pytest.approx([0.020] * 4, abs=1e-9)
        assert clock.ticks <= 6  # one waking per period for the one busy slot, not one per slot
    finally:
        await clock.stop()
