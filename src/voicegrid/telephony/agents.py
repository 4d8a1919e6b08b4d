"""The built-in talkers of the agent kinds that need no pipeline: echo (the media path end to end),
play (a test prompt, the path to the caller) and silent (listens, sends comfort silence)."""

import numpy as np

from voicegrid.media.session import AudioFrame, CallSession, Pcm, Talker


class EchoAgent:
    """Sends back what it hears (the `echo` agent kind): the media path, tested end to end."""

    def on_start(self, session: CallSession) -> None:
        pass

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        if not frame.concealed:
            session.queue(frame.pcm)

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        session.send_dtmf(digit)

    def on_end(self, session: CallSession) -> None:
        pass


class SilentAgent(EchoAgent):
    """Listens and says nothing: the session sends comfort silence (voice agents until the pipeline)."""

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        pass

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        pass


class PlayAgent(EchoAgent):
    """Plays a test prompt, over and over: one second of 1 kHz at -12 dBFS, then one second of quiet.

    It checks the path from us to the caller the way echo checks the round trip.
    """

    SECONDS_AHEAD = 4.0

    def __init__(self) -> None:
        self._cycle: Pcm | None = None

    def _prompt(self, rate: int) -> Pcm:
        if self._cycle is None or len(self._cycle) != 2 * rate:
            t = np.arange(rate) / rate
            beep = (0.25 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
            self._cycle = np.concatenate([beep, np.zeros(rate, dtype=np.int16)])
        return self._cycle

    def _top_up(self, session: CallSession) -> None:
        if session.queued_frames() * 0.02 < self.SECONDS_AHEAD / 2:
            for _ in range(int(self.SECONDS_AHEAD // 2)):
                session.queue(self._prompt(session.sample_rate))

    def on_start(self, session: CallSession) -> None:
        self._top_up(session)

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        self._top_up(session)  # the caller's audio paces the refills: RTP keeps coming while a call is up

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        pass


def agent_for_kind(kind: str) -> Talker:
    """The built-in agent of an agent kind; voice agents listen in silence until the pipeline lands."""
    if kind == "echo":
        return EchoAgent()
    if kind == "play":
        return PlayAgent()
    return SilentAgent()
