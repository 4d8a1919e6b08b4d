"""The VAD: webrtcvad's verdict on each 20 ms frame, whatever the array it is handed, and the runs of
voiced and quiet frames that start and end speech."""

import numpy as np
import webrtcvad

from voicegrid.media.vad import VoiceDetector, level

RATE = 8000


def _voice(seconds: float, amplitude: float = 6000) -> np.ndarray:
    """A voice-like signal: a harmonic tone with a syllable envelope."""
    t = np.arange(int(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), start=1))
    return (voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * amplitude).astype(np.int16)


def _frames(pcm: np.ndarray) -> list[np.ndarray]:
    return [pcm[i : i + 160] for i in range(0, len(pcm) - 159, 160)]


def _hum(seconds: float) -> np.ndarray:
    """A steady 100 Hz hum: loud, and not speech to webrtcvad."""
    return (np.sin(2 * np.pi * 100 * np.arange(int(seconds * RATE)) / RATE) * 3000).astype(np.int16)


def test_each_frame_above_the_floor_gets_webrtcvads_own_verdict() -> None:
    detector = VoiceDetector(RATE, aggressiveness=2)
    reference = webrtcvad.Vad(2)
    frames = [
        f for f in _frames(np.concatenate([_hum(0.4), _voice(0.6)])) if level(f) >= 2 * detector.min_rms
    ]
    ours = [detector.is_voiced(f) for f in frames]
    theirs = [reference.is_speech(f.tobytes(), RATE) for f in frames]
    assert ours == theirs
    assert True in ours
    assert False in ours


def test_a_frame_of_another_dtype_or_layout_is_judged_as_its_16_bit_samples_not_its_raw_bytes() -> None:
    def verdict(frame: np.ndarray) -> bool:
        return VoiceDetector(RATE, aggressiveness=2).is_voiced(frame)  # a fresh one: no state between

    hum = _frames(_hum(0.1))[0]
    assert not verdict(hum)  # so that a frame read as raw bytes (speech-like to the VAD) would show
    for frame in [hum, *_frames(_voice(0.2))]:
        strided = np.repeat(frame, 2)[::2]  # the same samples, every other element of a bigger array
        assert not strided.flags.c_contiguous
        for variant in (frame.astype(np.int32), frame.astype(np.float64), strided):
            assert verdict(variant) == verdict(frame), variant.dtype


def test_speech_starts_after_start_ms_of_voiced_frames_and_ends_after_stop_ms_of_quiet() -> None:
    detector = VoiceDetector(RATE, start_ms=60.0, stop_ms=200.0)
    speaking = [detector.feed(f) for f in _frames(np.concatenate([_voice(1.0), np.zeros(4000, np.int16)]))]
    started = speaking.index(True)
    assert started >= 2  # three voiced frames (60 ms) at the least
    ended = started + speaking[started:].index(False)
    assert ended >= 50 + 9  # the voice is 50 frames; then ten of quiet (200 ms)
    assert not any(speaking[ended:])


def test_faint_hiss_is_not_speech() -> None:
    detector = VoiceDetector(RATE, min_dbfs=-50.0)
    hiss = np.random.default_rng(7).normal(0, 20, 1600).astype(np.int16)  # about -64 dBFS
    assert not any(detector.feed(f) for f in _frames(hiss))
