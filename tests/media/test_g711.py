"""G.711 agrees with an independent implementation (the standard library's audioop) everywhere, on both of
its paths: the numpy tables (where no C codec is installed) and the C codec the hot path uses."""

import warnings

import numpy as np
import pytest

from voicegrid.media.errors import CodecError
from voicegrid.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # removed in Python 3.13; here only as an oracle for the tests

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


@pytest.fixture(autouse=True, params=["tables", "c-codec"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    from voicegrid.media import g711

    if request.param == "tables":
        monkeypatch.setattr(g711, "c_g711", None)
    else:
        assert g711.c_g711 is not None
    return str(request.param)


def test_ulaw_encoding_matches_audioop_for_every_16_bit_sample() -> None:
    assert ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)


def test_ulaw_decoding_matches_audioop_for_every_code() -> None:
    assert ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_encoding_matches_audioop_for_every_16_bit_sample() -> None:
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)


def test_alaw_decoding_matches_audioop_for_every_code() -> None:
    assert alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_a_round_trip_keeps_a_tone_within_g711_quantisation() -> None:
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        back = decode(encode(tone)).astype(np.int32)
        error = np.abs(back - tone.astype(np.int32))
        assert error.max() <= 8000 // 16  # the largest step at this level is well under this
        assert np.corrcoef(back, tone)[0, 1] > 0.999


def test_an_odd_number_of_pcm_bytes_is_refused() -> None:
    with pytest.raises(CodecError):
        ulaw_encode(b"\x00\x01\x02")


def test_the_tables_built_at_once_are_the_per_sample_reference_arithmetic_for_every_sample() -> None:
    from voicegrid.media import g711

    every = range(-32768, 32768)
    assert g711.ULAW_ENCODE.tolist() == [g711._ulaw_encode_one(s) for s in every]
    assert g711.ALAW_ENCODE.tolist() == [g711._alaw_encode_one(s) for s in every]


def test_frames_decode_to_writable_arrays_and_encode_from_any_integer_array(path: str) -> None:
    pcm = ulaw_decode(bytes(range(160)))
    pcm[0] = 1  # callers may scale or conceal in place
    wide = pcm.astype(np.int32)
    assert ulaw_encode(wide) == ulaw_encode(pcm) == ulaw_encode(pcm.tobytes())
    assert alaw_encode(wide[::2]) == alaw_encode(np.ascontiguousarray(pcm[::2]))
