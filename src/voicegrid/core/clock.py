"""Wall-clock time in UTC, the one place the package reads it for records; and the monotonic clock
of the running event loop, which timestamps turns."""

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, truncated to microseconds as every database keeps it."""
    return datetime.now(UTC)


def loop_time() -> float:
    """The running event loop's time (time.monotonic for asyncio's own loop; a test's may be
    virtual), else time.monotonic."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


def loop_clock() -> Callable[[], float]:
    """`loop_time` bound to the running loop once: each `get_running_loop()` checks the process id, a
    system call, and a call's clock is read on every 20 ms frame."""
    try:
        return asyncio.get_running_loop().time
    except RuntimeError:
        return loop_time
