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
