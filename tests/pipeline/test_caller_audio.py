"""The caller's audio on its way to the STT: whole chunks, and with speech only, the pre-roll and the
hangover around what the VAD hears."""

import numpy as np
import pytest

from voicegrid.pipeline.caller_audio import HANGOVER_MS, PRE_ROLL_S, CallerAudio

RATE = 8000
FRAME = RATE // 50


def frame(index: int) -> bytes:
    """A 20 ms frame whose every sample is its own number: what was sent can be read back in order."""
    return np.full(FRAME, index, dtype=np.int16).tobytes()


def queued(audio: CallerAudio) -> list[bytes | None]:
    items = []
    while not audio.queue.empty():
        items.append(audio.queue.get_nowait())
    return items


def frames_in(chunks: list[bytes | None]) -> list[int]:
    """The frame numbers the STT heard, in order."""
    samples = np.frombuffer(b"".join(c for c in chunks if c is not None), dtype=np.int16)
    return [int(s) for s in samples[::FRAME]]


def test_without_speech_only_every_frame_goes_in_whole_chunks_and_the_quiet_changes_nothing() -> None:
    audio = CallerAudio()
    audio.start(RATE, 100)
    for i in range(23):
        audio.add(frame(i))
        audio.quiet_for(5000)
    chunks = queued(audio)
    assert [len(c or b"") // 2 // FRAME for c in chunks] == [5, 5, 5, 5]
    assert audio.finalize() == pytest.approx(23 * 0.02)
    assert frames_in([*chunks, *queued(audio)]) == list(range(23))


def test_with_speech_only_the_quiet_is_held_back_and_the_start_of_speech_brings_its_pre_roll() -> None:
    audio = CallerAudio(speech_only=True)
    audio.start(RATE, 100)
    for i in range(100):  # two seconds of a caller who says nothing
        audio.add(frame(i))
        audio.quiet_for((i + 1) * 20)
    assert queued(audio) == []
    assert audio.sent_s == 0
    audio.add(frame(100))
    audio.speech_started()  # the VAD heard the caller start in the frames just added
    pre_roll = frames_in(queued(audio))
    # the last half second at least, up to the frame just added, in order, and not much more
    assert pre_roll == list(range(pre_roll[0], 101))
    assert PRE_ROLL_S / 0.02 + 1 <= len(pre_roll) < (PRE_ROLL_S + 0.1) / 0.02 + 1
    assert audio.sent_s == pytest.approx(len(pre_roll) * 0.02)


def test_after_speech_the_quiet_goes_on_for_the_hangover_then_is_held_back_until_the_next_speech() -> None:
    audio = CallerAudio(speech_only=True)
    audio.start(RATE, 100)
    audio.speech_started()
    for i in range(50):  # one second of speech
        audio.add(frame(i))
    hangover = int(HANGOVER_MS / 20)
    for i in range(50, 50 + hangover + 100):  # then quiet, as the VAD counts it
        audio.add(frame(i))
        audio.quiet_for((i - 49) * 20)
    heard = frames_in(queued(audio))
    assert heard == list(range(50 + hangover))  # the speech and the hangover, every frame, in order
    assert audio.holding
    audio.speech_started()
    assert frames_in(queued(audio))[-1] == 50 + hangover + 99  # the pre-roll runs to the newest frame
    assert audio.finalize() == pytest.approx(audio.sent_s)
