"""The audio waiting to be sent: 20 ms frames in order, a padded tail, marks fired as their audio goes;
with a stateless codec, each frame's payload encoded as it was queued, as the tick would encode it."""

import numpy as np

from voicegrid.media.g711 import ulaw_encode
from voicegrid.media.session import OutboundAudio


def _speech(samples: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.standard_normal(samples) * 4000).clip(-32768, 32767).astype(np.int16)


def test_queued_audio_is_encoded_once_and_each_frame_keeps_exactly_its_own_payload() -> None:
    audio = OutboundAudio(8000, encode=ulaw_encode)
    pcm = _speech(160 * 7 + 50)  # seven frames and a tail
    audio.push(pcm[:500])
    audio.push(pcm[500:])
    frames = [audio.pop_frame() for _ in range(8)]
    assert all(f is not None for f in frames)
    for i, frame in enumerate(frames[:7]):
        assert frame is not None
        assert np.array_equal(frame[0], pcm[i * 160 : (i + 1) * 160])
        assert frame[1] == ulaw_encode(pcm[i * 160 : (i + 1) * 160])
    tail = frames[7]
    assert tail is not None
    assert tail[1] is None  # the padded tail is encoded when it is sent
    assert np.array_equal(tail[0][:50], pcm[-50:])
    assert not tail[0][50:].any()
    assert audio.pop_frame() is None


def test_without_an_encoder_frames_carry_no_payload_and_pop_gives_the_samples() -> None:
    audio = OutboundAudio(8000)
    pcm = _speech(320)
    audio.push(pcm)
    first = audio.pop_frame()
    assert first is not None
    assert first[1] is None
    second = audio.pop()
    assert second is not None
    assert np.array_equal(second, pcm[160:])


def test_a_flush_drops_the_encoded_frames_and_fires_their_marks() -> None:
    audio = OutboundAudio(8000, encode=ulaw_encode)
    fired: list[str] = []
    audio.push(_speech(160 * 3))
    audio.mark(lambda: fired.append("said"))
    assert audio.flush() == 3
    assert fired == ["said"]
    assert audio.pop_frame() is None
