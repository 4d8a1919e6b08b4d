"""The scripted caller (`voicegrid call`) takes its turn when the agent is quiet, not when the line
merely stalls: a far end that stops sending for a moment resumes mid-word."""

from collections.abc import Callable

import numpy as np

from voicegrid.caller import AGENT_GONE_S, ScriptedCaller
from voicegrid.media.session import AudioFrame, Pcm

LOUD = (3000 * np.sin(np.arange(160) / 3)).astype(np.int16)
QUIET = np.zeros(160, np.int16)


class Line:
    """Our side of the call as the caller sees it: what it queues to say."""

    sample_rate = 8000

    def __init__(self) -> None:
        self.said: list[Pcm] = []
        self.at = 0.0

    def queue(self, pcm: Pcm) -> None:
        self.said.append(pcm)

    def mark_played(self, callback: Callable[[], None]) -> None:
        pass

    def hear(self, caller: ScriptedCaller, pcm: Pcm, seconds: float, *, concealed: bool = False) -> None:
        for _ in range(round(seconds / 0.02)):
            caller.on_audio(self, AudioFrame(pcm, 8000, self.at, concealed))  # type: ignore[arg-type]
            self.at += 0.02


async def _ready(line: Line) -> ScriptedCaller:
    caller = ScriptedCaller(["hello there"])
    caller.on_start(line)  # type: ignore[arg-type]
    assert caller._task is not None
    await caller._task  # our line, synthesized by espeak-ng
    return caller


async def test_a_second_with_no_packets_mid_reply_is_not_the_end_of_the_agents_turn() -> None:
    line = Line()
    caller = await _ready(line)
    line.hear(caller, LOUD, 0.5)
    line.hear(caller, QUIET, 1.5, concealed=True)  # the far end stalled: nothing came
    line.hear(caller, LOUD, 0.5)
    assert line.said == []
    line.hear(caller, QUIET, 1.0)  # quiet that was sent: the agent is done
    assert len(line.said) == 1
    assert [t.speaker for t in caller.turns] == ["agent", "caller"]


async def test_a_far_end_that_sends_nothing_when_quiet_still_gets_its_answer() -> None:
    line = Line()
    caller = await _ready(line)
    line.hear(caller, LOUD, 0.5)
    line.hear(caller, QUIET, AGENT_GONE_S - 0.1, concealed=True)
    assert line.said == []
    line.hear(caller, QUIET, 0.2, concealed=True)
    assert len(line.said) == 1
