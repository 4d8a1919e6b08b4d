"""The media clock's schedule, sans-I/O: every stream sends once per period, on a phase of its own.

Streams are spread over `slots` sub-slots of the period (1 ms each for 20 ms), each new stream going
to the emptiest slot, so that a tick never has to send for every call at once: with 1,000 streams a
slot holds 50, and the last packet of a slot leaves well within a millisecond of its due time.
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

    def remove(self, stream: Hashable) -> None:
        slot = self._slot_of.pop(stream, None)
        if slot is not None:
            self._members[slot].pop(stream, None)

    def due(self, tick: int) -> list[Hashable]:
        """The streams whose turn is sub-slot `tick` (ticks count slots from the clock's start)."""
        return list(self._members[tick % self.slots])

    def __len__(self) -> int:
        return len(self._slot_of)

    def load(self) -> list[int]:
        return [len(m) for m in self._members]
