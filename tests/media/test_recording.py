"""The recorder keeps both directions aligned by tick and mixes them into one WAV."""

import io
import wave

import numpy as np

from voicegrid.media.recording import Recorder


def test_both_directions_are_mixed_tick_by_tick_with_clipping() -> None:
    recorder = Recorder(8000)
    loud = np.full(160, 30000, dtype=np.int16)
    quiet = np.full(160, 100, dtype=np.int16)
    recorder.tick(loud, loud)  # clips at the int16 maximum
    recorder.tick(None, quiet)  # nothing heard: silence on that side
    recorder.tick(quiet, None)
    mixed = recorder.mixed()
    assert len(mixed) == 3 * 160
    assert mixed[0] == 32767
    assert mixed[200] == 100
    assert mixed[400] == 100
    assert recorder.seconds == 0.06


def test_the_wav_says_mono_16_bit_at_the_call_rate() -> None:
    recorder = Recorder(16000)
    for _ in range(50):
        recorder.tick(np.ones(320, dtype=np.int16), None)
    with wave.open(io.BytesIO(recorder.wav_bytes())) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            1,
            2,
            16000,
            16000,
        )


def test_memory_is_bounded_by_the_maximum_length() -> None:
    recorder = Recorder(8000, max_seconds=1)
    for _ in range(200):
        recorder.tick(None, None)
    assert recorder.seconds == 1.0
