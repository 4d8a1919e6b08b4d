"""The project's task group is asyncio's: it cancels its tasks when one fails and raises their errors
together. (That a cancelled one leaves no cycle is tested where it matters, on a voice session:
tests/pipeline/test_release.py.)"""

import asyncio

import pytest

from voicegrid.core.tasks import TaskGroup

pytestmark = pytest.mark.virtual_time


async def test_a_task_group_still_cancels_its_tasks_and_raises_their_errors() -> None:
    async def fails() -> None:
        await asyncio.sleep(1)
        raise ValueError("boom")

    started: list[asyncio.Task[None]] = []

    async def group() -> None:
        async with TaskGroup() as tg:
            started.append(tg.create_task(asyncio.sleep(60)))
            started.append(tg.create_task(fails()))

    with pytest.raises(ExceptionGroup) as caught:
        await group()
    assert [type(e) for e in caught.value.exceptions] == [ValueError]
    slow, failed = started
    assert slow.cancelled()
    assert not failed.cancelled()
