"""The media clock's schedule, sans-I/O: every stream sends once per period, on a phase of its own.

Streams are spread over `slots` sub-slots of the period (5 ms each for 20 ms by default), each new
stream going to the emptiest slot, so that a tick never has to send for every call at once: with
1,000 streams a slot holds 250, and the last packet of a slot leaves about 2 ms after its due time.
A waking costs the event loop ~40 us whether it sends one packet or fifty, so fewer, fuller slots
are cheaper; an empty slot is skipped (`next_due`), and a clock with no stream does not wake.
"""

from collections.abc import Hashable


class MediaSchedule:
    def __init__(self, period_s: float = 0.020, slots: int = 20) -> None:
        self.period_s = period_s
        self.slots = slots
        self.slot_s = period_s / slots
        self._members: list[dict[Hashable, None]] = [{} for _ in range(slots)]  # ordered sets
        self._slot_of: dict[Hashable, int] = {}

    def add(self, stream: Hashable) -> int:
        if stream in self._slot_of:
            return self._slot_of[stream]
        slot = min(range(self.slots), key=lambda i: len(self._members[i]))
        self._members[slot][stream] = None
        self._slot_of[stream] = slot
        return slot

    def slot_of(self, stream: Hashable) -> int | None:
        return self._slot_of.get(stream)

    def move(self, stream: Hashable, slot: int) -> None:
        """Give a stream another sub-slot (its phase), keeping its place in no other."""
        old = self._slot_of.get(stream)
        if old is None or old == slot:
            return
        self._members[old].pop(stream, None)
        self._members[slot][stream] = None
        self._slot_of[stream] = slot

    def remove(self, stream: Hashable) -> None:
        slot = self._slot_of.pop(stream, None)
        if slot is not None:
            self._members[slot].pop(stream, None)

    def due(self, tick: int) -> list[Hashable]:
        """The streams whose turn is sub-slot `tick` (ticks count slots from the clock's start)."""
        return list(self._members[tick % self.slots])

    def next_due(self, tick: int) -> int | None:
        """The first tick at or after `tick` whose slot has a stream; None when there is none."""
        for step in range(self.slots):
            if self._members[(tick + step) % self.slots]:
                return tick + step
        return None

    def __len__(self) -> int:
        return len(self._slot_of)

    def load(self) -> list[int]:
        return [len(m) for m in self._members]
