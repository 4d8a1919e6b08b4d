"""An outbound call screened by answering-machine detection: a person gets the agent's greeting right
after their hello; a machine is hung up on, or gets the message after its beep, in the transcript."""

import numpy as np
import pytest

from tests.pipeline.test_conversation import make_session
from tests.support.voice import Line
from voicegrid.media.amd import Decision, Ready, Verdict
from voicegrid.media.screening import ScreenedTalker
from voicegrid.media.session import Pcm
from voicegrid.pipeline import VoiceConfig, VoiceSession
from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.registry import build_llm, build_stt, build_tts
from voicegrid.testing.amd_corpus import RATE, line, speak, tone

pytestmark = pytest.mark.virtual_time


class Answered(Line):
    """The called side plays a recorded answer (8 kHz), then quiet."""

    def __init__(self, answer: np.ndarray) -> None:
        super().__init__(sample_rate=RATE)
        self.answer = answer

    def caller_frame(self, t: float, index: int) -> Pcm:
        chunk = self.answer[index * self.frame : (index + 1) * self.frame]
        return np.pad(chunk, (0, self.frame - len(chunk))).astype(np.int16)


def _answer(*parts: np.ndarray) -> np.ndarray:
    # a quiet line: the pipeline's own VAD (not the detector's) would take louder hiss for speech
    return line(np.concatenate(parts), np.random.default_rng(3), 45.0, 0.0)


def _quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def _screen(message: str | None) -> tuple[ScreenedTalker, list[tuple[Decision, Ready | None]]]:
    results: list[tuple[Decision, Ready | None]] = []
    session = make_session([], ["Sure."])
    screened = ScreenedTalker(session, message=message, on_result=lambda d, r: results.append((d, r)))
    return screened, results


async def test_a_person_hears_the_agents_greeting_within_a_second_and_a_half_of_their_hello() -> None:
    hello = speak("hello?", "en-us", 165)
    lead = _quiet(0.5)
    caller = Answered(_answer(lead, hello, _quiet(5)))
    screened, results = _screen(None)
    await caller.run(screened, seconds=4)
    [(decision, ready)] = results
    assert (decision.verdict, ready) == (Verdict.HUMAN, None)
    hello_end_s = (len(lead) + len(hello)) / RATE
    first_agent_audio_s = caller.voiced_spans()[0][0]
    assert 0 < first_agent_audio_s - hello_end_s <= 1.5
    assert caller.hung_up is None


async def test_a_machine_is_hung_up_on_before_the_agent_says_a_word() -> None:
    greeting = speak(
        "Hi, you've reached Sam. I can't take your call right now, please leave a message.", "en-gb", 165
    )
    caller = Answered(_answer(_quiet(0.3), greeting, _quiet(3)))
    screened, results = _screen(None)
    await caller.run(screened, seconds=8)
    [(decision, _)] = results
    assert decision.verdict is Verdict.MACHINE
    assert caller.hung_up == "voicemail"
    assert caller.voiced_spans() == []  # nothing was said to the machine


async def test_a_machine_gets_the_message_after_its_beep_and_it_is_in_the_transcript() -> None:
    greeting = speak("The person you are calling is not available. Please record your message.", "en-us", 165)
    lead, gap, beep = _quiet(0.3), _quiet(0.4), tone(1000.0, 0.5)
    caller = Answered(_answer(lead, greeting, gap, beep, _quiet(8)))
    screened, results = _screen("Hi, this is Bella Pizza: your order is ready.")
    await caller.run(screened, seconds=12)
    [(decision, ready)] = results
    assert decision.verdict is Verdict.MACHINE
    assert ready is not None
    assert ready.reason == "beep"
    beep_end_s = (len(lead) + len(greeting) + len(gap) + len(beep)) / RATE
    spans = caller.voiced_spans()
    assert spans
    assert spans[0][0] >= beep_end_s  # nothing before the machine records
    assert caller.hung_up == "voicemail"  # and it hangs up once the message is played
    said = [(e["speaker"], e["text"]) for e in screened.inner.summary()["transcript"]]  # type: ignore[attr-defined]
    assert said == [("agent", "Hi, this is Bella Pizza: your order is ready.")]


def _slow_tts_session(first_byte_ms: int, greeting: str) -> VoiceSession:
    session: VoiceSession
    report = lambda stage, e: session.provider_failed(stage, e)  # noqa: E731
    session = VoiceSession(
        VoiceConfig(greeting=greeting),
        stt=build_stt([ProviderConfig("simulated", options={"transcripts": []})], report),
        llm=build_llm([ProviderConfig("simulated", options={"replies": []})], report),
        tts=build_tts(
            [ProviderConfig("simulated", options={"first_byte_ms": first_byte_ms, "ms_per_char": 20})], report
        ),
    )
    return session


async def test_the_greeting_is_synthesised_while_the_answer_is_screened_so_a_slow_voice_costs_no_wait() -> (
    None
):
    hello = speak("hello?", "en-us", 165)
    caller = Answered(_answer(_quiet(0.5), hello, _quiet(5)))
    results: list[tuple[Decision, Ready | None]] = []
    inner = _slow_tts_session(1500, "Hello, how can I help?")  # its first audio comes 1.5 s after asking
    screened = ScreenedTalker(inner, message=None, on_result=lambda d, r: results.append((d, r)))
    await caller.run(screened, seconds=5)
    [(decision, _)] = results
    assert decision.verdict is Verdict.HUMAN
    first_agent_audio_s = caller.voiced_spans()[0][0]
    assert 0 <= first_agent_audio_s - decision.after_ms / 1000 <= 0.3  # not 1.5 s: it was ready


async def test_a_line_cut_off_by_the_hang_up_stays_in_the_transcript_as_far_as_it_was_played() -> None:
    greeting = "Hello, this is Bella Pizza calling about your order of two large pizzas for tonight."
    caller = Answered(_quiet(5))
    session = _slow_tts_session(100, greeting)
    await caller.run(session, seconds=1.0)  # the caller hangs up a second in
    [line] = session.summary()["transcript"]
    assert line["speaker"] == "agent"
    assert line["interrupted"] is True
    assert greeting.startswith(line["text"])
    assert 0 < len(line["text"]) < len(greeting)


async def test_a_machine_that_talks_on_after_it_records_gets_the_whole_message_and_no_reply() -> None:
    # A greeting with a long pause (the detector takes the quiet for the recording), then more of
    # it while the message is still being synthesised: the message is neither dropped for it nor cut
    # by it, and nothing the machine says is answered.
    first = speak("You have reached the voicemail box of Sam Taylor at Bella Pizza.", "en-us", 165)
    more = speak("Press one to page me, or leave a message.", "en-us", 165)
    message = "Hi, this is Bella Pizza: your order is ready."
    caller = Answered(_answer(_quiet(0.3), first, _quiet(1.8), more, _quiet(8)))
    results: list[tuple[Decision, Ready | None]] = []
    inner = _slow_tts_session(600, "Hello, how can I help?")
    screened = ScreenedTalker(inner, message=message, on_result=lambda d, r: results.append((d, r)))
    await caller.run(screened, seconds=14)
    [(decision, ready)] = results
    assert decision.verdict is Verdict.MACHINE
    assert ready is not None
    assert ready.reason == "silence"
    assert caller.hung_up == "voicemail"
    said = [(e["speaker"], e["text"], e.get("interrupted")) for e in inner.summary()["transcript"]]
    assert said == [("agent", message, False)]
    assert inner.turns == []
