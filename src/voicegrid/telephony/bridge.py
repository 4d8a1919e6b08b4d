"""Two calls joined through our media path: what one side says is queued to the other."""

from typing import TYPE_CHECKING

import numpy as np

from voicegrid.media.session import AudioFrame, CallSession, Pcm

if TYPE_CHECKING:
    from voicegrid.telephony.book import Call


def match_rate(pcm: Pcm, rate: int, wanted: int) -> Pcm:
    """8 kHz <-> 16 kHz, the only mix two of our codecs make: linear interpolation, or averaging pairs."""
    if rate == wanted:
        return pcm
    if rate * 2 == wanted:
        x = pcm.astype(np.float64)
        out = np.empty(2 * len(x))
        out[0::2] = x
        out[1::2] = np.append((x[:-1] + x[1:]) / 2, x[-1:])
        return out.astype(np.int16)
    if wanted * 2 == rate:
        return ((pcm[0::2].astype(np.int32) + pcm[1::2].astype(np.int32)) // 2).astype(np.int16)
    raise ValueError(f"no bridge between {rate} and {wanted} Hz")


class BridgeAgent:
    """Forwards this side's audio to the partner call's session; DTMF too."""

    def __init__(self, partner: "Call") -> None:
        self.partner = partner

    def on_start(self, session: CallSession) -> None:
        pass

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        other = self.partner.media_session
        if other is not None and not frame.concealed:
            other.queue(match_rate(frame.pcm, frame.sample_rate, other.sample_rate))

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        other = self.partner.media_session
        if other is not None:
            other.send_dtmf(digit)

    def on_end(self, session: CallSession) -> None:
        pass
