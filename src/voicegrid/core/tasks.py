"""`TaskGroup`: `asyncio.TaskGroup`, without the reference cycle Python 3.11 leaves when it is cancelled.

On 3.11, `TaskGroup.__aexit__` keeps the `CancelledError` it raises in a local of its own frame, and
that error's traceback holds the frame: a cycle. Through the traceback it also holds the frames of
the code that ran the group, with everything they refer to (a call's whole voice pipeline, for a
reply cut off by barge-in or by the call's end). All of it then waits for the cycle collector, which
the platform runs rarely (`process.GC_THRESHOLDS`). Raised here without that traceback, the frames
are freed at once, by their reference counts. (Python 3.12 clears the local itself.)
"""

import asyncio
from types import TracebackType


class TaskGroup(asyncio.TaskGroup):
    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await super().__aexit__(et, exc, tb)
        except asyncio.CancelledError as cancelled:
            exc = tb = None  # the new traceback holds this frame: the frame must not hold the error
            raise cancelled.with_traceback(None) from None
