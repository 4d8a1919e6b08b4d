"""The recorder keeps both directions aligned by tick and mixes them, chunk by chunk."""

import io
import wave

import numpy as np

from voicegrid.media.recording import CallMix, wav_header


def test_both_directions_are_mixed_tick_by_tick_with_clipping() -> None:
    recorder = CallMix(8000)
    loud = np.full(160, 30000, dtype=np.int16)
    quiet = np.full(160, 100, dtype=np.int16)
    recorder.tick(loud, loud)  # clips at the int16 maximum
    recorder.tick(None, quiet)  # nothing heard: silence on that side
    recorder.tick(quiet, None)
    mixed = np.frombuffer(recorder.take(), dtype="<i2")
    assert len(mixed) == 3 * 160
    assert mixed[0] == 32767
    assert mixed[200] == 100
    assert mixed[400] == 100
    assert recorder.seconds == 0.06


def test_the_header_makes_a_wav_that_says_mono_16_bit_at_the_call_rate() -> None:
    recorder = CallMix(16000)
    for _ in range(50):
        recorder.tick(np.ones(320, dtype=np.int16), None)
    samples = recorder.take()
    with wave.open(io.BytesIO(wav_header(16000, len(samples)) + samples)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            1,
            2,
            16000,
            16000,
        )


def test_a_recorder_holds_one_chunk_at_most_and_stops_at_the_maximum_length() -> None:
    recorder = CallMix(8000, max_seconds=3, chunk_seconds=0.5)
    taken = 0
    for _ in range(500):
        recorder.tick(None, None)
        assert len(recorder._pending) <= recorder.chunk_frames
        if recorder.ready:
            taken += len(recorder.take())
    taken += len(recorder.take())
    assert recorder.seconds == 3.0
    assert taken == 3 * 8000 * 2
