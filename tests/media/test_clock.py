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


def test_a_stream_moved_to_another_sub_slot_is_due_there_only() -> None:
    schedule = MediaSchedule(0.020, 4)
    schedule.add("a")  # slot 0
    schedule.add("b")  # slot 1
    schedule.move("a", 2)
    assert schedule.slot_of("a") == 2
    assert [schedule.due(t) for t in range(4)] == [[], ["b"], ["a"], []]
    schedule.move("gone", 3)  # not a member: nothing happens
    assert schedule.slot_of("gone") is None
    assert len(schedule) == 2


async def _first_ticks(stream: Recorder, count: int) -> None:
    stream.enough = count
    if len(stream.scheduled) < count:
        stream.done.clear()
        await stream.done.wait()


@pytest.mark.virtual_time
async def test_a_hurried_stream_sends_at_the_next_sub_slot_then_every_period_on_its_new_phase() -> None:
    clock = MediaClock(0.020, 4, clock=asyncio.get_running_loop().time)
    alone = Recorder(enough=1000)  # the only stream: the clock sleeps a whole period between its turns
    clock.register(alone)
    clock.start()
    try:
        await _first_ticks(alone, 1)
        first = alone.scheduled[0]
        await asyncio.sleep(first + 0.007 - clock.now())  # between sub-slots 1 and 2 of the period
        clock.hurry(alone)
        await _first_ticks(alone, 4)
    finally:
        await clock.stop()
    assert clock.hurried == 1
    assert alone.scheduled[1] == pytest.approx(first + 0.010)  # sub-slot 2, not its own turn at +20 ms
    gaps = [b - a for a, b in zip(alone.scheduled[1:], alone.scheduled[2:], strict=False)]
    assert gaps == pytest.approx([0.020] * len(gaps))


@pytest.mark.virtual_time
async def test_a_stream_whose_own_turn_is_next_anyway_is_not_moved() -> None:
    clock = MediaClock(0.020, 4, clock=asyncio.get_running_loop().time)
    stream = Recorder(enough=1000)
    clock.register(stream)
    clock.start()
    try:
        await _first_ticks(stream, 1)
        first = stream.scheduled[0]
        await asyncio.sleep(first + 0.017 - clock.now())  # its own turn is the next sub-slot
        clock.hurry(stream)
        await _first_ticks(stream, 3)
    finally:
        await clock.stop()
    assert clock.hurried == 0
    assert stream.scheduled[:3] == pytest.approx([first, first + 0.020, first + 0.040])
