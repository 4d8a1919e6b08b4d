"""Streaming resampling: lengths add up, the signal survives, state carries across 20 ms chunks."""

import numpy as np
import pytest

from voicegrid.media.errors import CodecError
from voicegrid.media.resample import Resampler


def _two_tones(rate: int, seconds: float = 2.0) -> np.ndarray:  # type: ignore[type-arg]
    t = np.arange(int(rate * seconds)) / rate
    return 8000 * np.sin(2 * np.pi * 700 * t) + 4000 * np.sin(2 * np.pi * 2300 * t)


def _snr_db(out: np.ndarray, rate: int) -> float:  # type: ignore[type-arg]
    """Against the ideal signal at the output rate, at the best alignment of the first 40 samples."""
    ideal = _two_tones(rate)[: len(out)]
    skip = rate // 10  # the filter's start-up
    best = -1e9
    for lag in range(40):
        x = out[skip + lag :].astype(np.float64)
        y = ideal[skip : skip + len(x)]
        best = max(best, 10 * np.log10(np.sum(y**2) / np.sum((x - y) ** 2)))
    return best


@pytest.mark.parametrize(
    ("in_rate", "out_rate"), [(8000, 16000), (16000, 8000), (24000, 16000), (24000, 8000)]
)
def test_a_stream_of_20_ms_chunks_keeps_the_signal_and_the_length(in_rate: int, out_rate: int) -> None:
    signal = _two_tones(in_rate).astype(np.int16)
    resampler = Resampler(in_rate, out_rate)
    step = in_rate // 50
    parts = [resampler.process(signal[i : i + step]) for i in range(0, len(signal), step)]
    parts.append(resampler.process(np.zeros(0, dtype=np.int16), last=True))
    out = np.concatenate(parts)
    assert abs(len(out) - len(signal) * out_rate // in_rate) <= 2
    assert _snr_db(out, out_rate) > 50
    assert resampler.held_ms < 1


def test_the_audio_held_back_is_bounded_and_reported() -> None:
    resampler = Resampler(8000, 16000)
    signal = _two_tones(8000).astype(np.int16)
    held = []
    for i in range(0, len(signal), 160):
        resampler.process(signal[i : i + 160])
        held.append(resampler.held_ms)
    assert max(held) < 120  # soxr hands over in blocks; this is the latency the pipeline must budget


def test_the_same_rate_passes_audio_through_untouched() -> None:
    pcm = np.arange(160, dtype=np.int16)
    assert np.array_equal(Resampler(8000, 8000).process(pcm), pcm)


def test_a_bad_quality_or_rate_is_refused() -> None:
    with pytest.raises(CodecError):
        Resampler(8000, 16000, quality="best")
    with pytest.raises(CodecError):
        Resampler(0, 16000)
