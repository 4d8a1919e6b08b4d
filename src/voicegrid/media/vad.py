"""Voice activity detection on 20 ms frames: webrtcvad (fast, 8 kHz native) with a small hangover.

`VoiceDetector.feed(frame)` says whether the frame is speech and keeps two running lengths, voiced and
silent, that turn-taking and barge-in read. webrtcvad takes 10, 20 or 30 ms frames at 8, 16, 32 or
48 kHz; frames of other lengths are judged by energy alone.
"""

from dataclasses import dataclass

import _webrtcvad  # webrtcvad's C half, called directly on each frame (see is_voiced)
import numpy as np
import webrtcvad

from voicegrid.media.errors import CodecError
from voicegrid.media.g711 import c_g711
from voicegrid.media.session import Pcm, rms

RATES = (8000, 16000, 32000, 48000)


def level(samples: Pcm) -> float:
    """The RMS of contiguous 16-bit samples, in C (0.2 us, not 1.7-4 us: every frame of every call
    passes here); truncated to a whole sample value, which a floor in the hundreds does not feel."""
    if c_g711 is not None:
        return float(c_g711.rms(samples, 2))
    return rms(samples)


@dataclass(slots=True)
class VadState:
    speaking: bool = False
    voiced_ms: float = 0.0  # voiced audio in the current run (resets after `silence` of quiet)
    silence_ms: float = 0.0  # quiet since the last voiced frame
    frames: int = 0
    voiced_frames: int = 0


class VoiceDetector:
    """Speech starts after `start_ms` of voiced frames and ends after `stop_ms` of quiet."""

    def __init__(
        self,
        sample_rate: int,
        *,
        aggressiveness: int = 2,
        start_ms: float = 60.0,
        stop_ms: float = 200.0,
        min_dbfs: float = -50.0,
    ) -> None:
        if sample_rate not in RATES:
            raise CodecError(f"VAD needs one of {RATES} Hz, not {sample_rate}")
        if not 0 <= aggressiveness <= 3:
            raise CodecError("VAD aggressiveness is 0..3")
        self.sample_rate = sample_rate
        self._vad = webrtcvad.Vad(aggressiveness)
        self._handle = self._vad._vad  # the C detector the wrapper's is_speech passes on
        self.start_ms = start_ms
        self.stop_ms = stop_ms
        self.min_rms = 32768 * 10 ** (min_dbfs / 20)
        self.state = VadState()

    def is_voiced(self, pcm: Pcm) -> bool:
        if not len(pcm):
            return False
        # the C level and detector read the samples' own buffer (the wrapper's Python and a copy
        # were 1.2 us a frame): contiguous 16-bit samples, made so once here when they are not
        samples = pcm
        if pcm.dtype != np.int16 or not pcm.flags.c_contiguous:
            samples = np.ascontiguousarray(pcm, np.int16)
        if level(samples) < self.min_rms:  # webrtcvad calls faint hiss speech; a floor keeps it honest
            return False
        ms = len(samples) * 1000 // self.sample_rate
        if ms not in (10, 20, 30) or len(samples) * 1000 % self.sample_rate:
            return True
        return bool(_webrtcvad.process(self._handle, self.sample_rate, samples, len(samples)))

    def end_speech(self) -> None:
        """End the current run now, as `stop_ms` of quiet would (another judge heard the end): more
        speech must build up `start_ms` again to count."""
        self.state.speaking = False
        self.state.voiced_ms = 0.0

    def feed(self, pcm: Pcm) -> bool:
        """Judge one frame; return whether the caller is speaking after it."""
        st = self.state
        ms = len(pcm) * 1000 / self.sample_rate
        st.frames += 1
        if self.is_voiced(pcm):
            st.voiced_frames += 1
            st.voiced_ms += ms
            st.silence_ms = 0.0
            if not st.speaking and st.voiced_ms >= self.start_ms:
                st.speaking = True
        else:
            st.silence_ms += ms
            if st.silence_ms >= self.stop_ms:
                st.voiced_ms = 0.0
                st.speaking = False
        return st.speaking
