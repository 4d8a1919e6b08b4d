"""A line synthesised early hands its audio over in order as it comes, and ends once, as the TTS did."""

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voicegrid.media.session import Pcm
from voicegrid.pipeline.replies import EarlyLine
from voicegrid.providers.errors import ProviderClosed

pytestmark = pytest.mark.virtual_time


def _chunk(value: int) -> Pcm:
    return np.full(160, value, dtype=np.int16)


async def _tts(values: list[int], fail: bool = False) -> AsyncIterator[Pcm]:
    for value in values:
        await asyncio.sleep(0.05)  # the provider's pace, not the reader's
        yield _chunk(value)
    if fail:
        raise ProviderClosed("tts", "stream cut off")


async def test_an_early_lines_audio_comes_in_order_while_it_is_still_being_synthesised() -> None:
    line = EarlyLine("Hello there.", _tts([1, 2, 3]))
    heard = [int(pcm[0]) async for pcm in line.audio()]
    assert heard == [1, 2, 3]
    assert line.task.done()


async def test_an_early_line_that_ended_stays_ended_when_read_again() -> None:
    line = EarlyLine("Hello there.", _tts([7]))
    audio = line.audio()
    assert [int(pcm[0]) async for pcm in audio] == [7]
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(audio), 1.0)  # does not wait for a chunk that never comes


async def test_an_early_line_whose_tts_fails_gives_what_it_had_and_then_ends() -> None:
    line = EarlyLine("Hello there.", _tts([4, 5], fail=True))
    assert [int(pcm[0]) async for pcm in line.audio()] == [4, 5]
