"""An outbound call screened by answering-machine detection before its talker starts.

`ScreenedTalker` wraps the call's talker: it feeds the answer's first audio to the detector and holds
the talker back until the verdict. A person (or no clear answer) starts the talker on the next frame,
so the agent greets them (with the greeting synthesised while the detector listened, when the
talker can `prepare` it); a machine is hung up on (`voicemail`), or, with a message to leave, the
talker is started on the message (`leave_message`) once the machine records (its beep has ended).
The verdict and when the machine was ready go to `on_result`, for the call's record.
"""

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from voicegrid.media.amd import AnsweringMachineDetector, Decision, Ready, Verdict
from voicegrid.media.session import AudioFrame, CallSession, Talker


@runtime_checkable
class GreetsEarly(Protocol):
    """A talker that can make its greeting ready before it starts (the voice pipeline)."""

    def prepare(self, session: CallSession) -> None: ...


@runtime_checkable
class MessageTaker(Protocol):
    """A talker that can say a message to an answering machine (the voice pipeline)."""

    def leave_message(self, session: CallSession, text: str) -> None: ...


class ScreenedTalker:
    def __init__(
        self,
        inner: Talker,
        *,
        message: str | None,
        on_result: Callable[[Decision, Ready | None], None] = lambda _decision, _ready: None,
    ) -> None:
        self.inner, self.message, self.on_result = inner, message, on_result
        self.detector: AnsweringMachineDetector | None = None
        self.decision: Decision | None = None
        self.passed = False  # the inner talker has the call

    @property
    def leaves_messages(self) -> bool:
        return self.message is not None and isinstance(self.inner, MessageTaker)

    def on_start(self, session: CallSession) -> None:
        self.detector = AnsweringMachineDetector(session.sample_rate, wait_for_beep=self.leaves_messages)
        if isinstance(self.inner, GreetsEarly):  # the greeting is ready the moment a person is told apart
            self.inner.prepare(session)

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        if self.passed:
            self.inner.on_audio(session, frame)
            return
        if self.detector is None:
            return
        out = self.detector.feed(frame.pcm, heard=not frame.concealed)
        if isinstance(out, Decision):
            self.decision = out
            if out.verdict is not Verdict.MACHINE:
                self.on_result(out, None)
                self.passed = True
                self.inner.on_start(session)
                self.inner.on_audio(session, frame)
            elif not self.leaves_messages:
                self.on_result(out, None)
                session.hangup("voicemail")
        elif isinstance(out, Ready) and self.decision is not None and self.message is not None:
            self.on_result(self.decision, out)
            self.passed = True  # the machine records: what it hears is the message
            if isinstance(self.inner, MessageTaker):  # it is: `leaves_messages` said so at the start
                self.inner.leave_message(session, self.message)

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        if self.passed:
            self.inner.on_dtmf(session, digit)

    def on_end(self, session: CallSession) -> None:
        self.inner.on_end(session)
