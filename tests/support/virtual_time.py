"""An event loop on virtual time: when nothing is ready to run, the loop's clock jumps to its next
timer instead of sleeping, so a test of a 12-second conversation takes a fraction of a second.

`loop.time()` is the virtual clock. While a socket of the test is open (a webhook receiver, say),
the loop first gives real I/O a moment to land before it jumps, so a reply in flight is not
overtaken by a timeout. Work in threads or subprocesses is not on this clock: tests that need it run
on the ordinary loop.
"""

import asyncio
import selectors
from typing import Any

REAL_GRACE_S = 0.002  # how long real I/O in flight gets before virtual time jumps past it


class _JumpingSelector(selectors.BaseSelector):
    def __init__(self) -> None:
        self.real = selectors.DefaultSelector()
        self.loop: VirtualTimeLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self.real.get_map()

    def close(self) -> None:
        self.real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self.real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only real I/O (a thread, a socket) can wake us
            return self.real.select(None)
        if len(self.real.get_map()) > 1:  # a socket besides the loop's own wake-up pipe
            ready = self.real.select(min(timeout, REAL_GRACE_S))
            if ready:
                return ready
        assert self.loop is not None
        self.loop.virtual_now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _JumpingSelector()
        self.virtual_now = 0.0
        super().__init__(selector)
        selector.loop = self

    def time(self) -> float:
        return self.virtual_now
