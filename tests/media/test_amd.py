"""Answering-machine detection on answers spoken by espeak-ng through a noisy, lossy telephone line:
people are told from machines by their speech pattern, beeps are heard, words help, and silence is
never taken for a machine."""

import numpy as np
import pytest

from voicegrid.media.amd import AmdSettings, AnsweringMachineDetector, Decision, Ready, Verdict
from voicegrid.media.errors import CodecError
from voicegrid.testing.amd_corpus import FRAME, RATE, line, speak, tone


def _answer(*parts: np.ndarray, seed: int = 1, snr_db: float = 20.0, loss: float = 0.02) -> np.ndarray:
    return line(np.concatenate(parts), np.random.default_rng(seed), snr_db, loss)


def _quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def _run(pcm: np.ndarray, **options: bool) -> tuple[Decision | None, Ready | None]:
    detector = AnsweringMachineDetector(**options)
    decision = ready = None
    for start in range(0, len(pcm) - FRAME + 1, FRAME):
        out = detector.feed(pcm[start : start + FRAME])
        if isinstance(out, Decision):
            decision = out
        elif isinstance(out, Ready):
            ready = out
            break
    return decision, ready


@pytest.mark.parametrize(("text", "voice"), [("hello?", "en-us"), ("hi, this is Maria", "en-gb+f3")])
def test_a_person_saying_hello_and_waiting_is_a_human_decided_within_a_second_of_their_hello(
    text: str, voice: str
) -> None:
    hello = speak(text, voice, 165)
    lead = _quiet(0.4)
    decision, _ = _run(_answer(lead, hello, _quiet(4)))
    assert decision is not None
    assert decision.verdict is Verdict.HUMAN
    hello_end_ms = (len(lead) + len(hello)) * 1000 / RATE
    assert decision.speech_ended_ms is not None
    assert abs(decision.speech_ended_ms - hello_end_ms) < 200
    assert 0 < decision.after_ms - hello_end_ms < 1000  # the agent answers their hello at once


def test_a_voicemail_greeting_is_a_machine_decided_within_three_and_a_half_seconds() -> None:
    greeting = speak(
        "Hi, you've reached Sam. I can't take your call right now, please leave a message.", "en-us", 165
    )
    decision, _ = _run(_answer(_quiet(0.3), greeting, _quiet(2)))
    assert decision is not None
    assert decision.verdict is Verdict.MACHINE
    assert decision.after_ms <= 3500
    assert "greeting" in decision.reason


def test_waiting_for_the_beep_the_machine_is_ready_at_its_beeps_end_or_after_a_greeting_without_one() -> None:
    text = "The person you are calling is not available. Please record your message."
    greeting = speak(text, "en-gb", 165)
    lead, gap, beep = _quiet(0.3), _quiet(0.4), tone(1000.0, 0.5)
    decision, ready = _run(_answer(lead, greeting, gap, beep, _quiet(3)), wait_for_beep=True)
    assert decision is not None
    assert decision.verdict is Verdict.MACHINE
    assert ready is not None
    assert ready.reason == "beep"
    assert ready.beep_hz is not None
    assert abs(ready.beep_hz - 1000) < 40
    beep_end_ms = (len(lead) + len(greeting) + len(gap) + len(beep)) * 1000 / RATE
    assert 0 <= ready.after_ms - beep_end_ms < 300  # the message starts right after the beep

    _, quiet_machine = _run(_answer(lead, greeting, _quiet(3)), wait_for_beep=True)
    assert quiet_machine is not None
    assert quiet_machine.reason == "silence"
    greeting_end_ms = (len(lead) + len(greeting)) * 1000 / RATE
    # its greeting's last, faint syllable may pass for quiet: a few hundred ms early at most
    assert quiet_machine.after_ms >= greeting_end_ms + AmdSettings().end_silence_ms - 300


def test_a_beep_alone_is_a_machine_and_a_voice_is_never_a_beep() -> None:
    decision, _ = _run(_answer(_quiet(0.5), tone(850.0, 0.4), _quiet(2)))
    assert decision is not None
    assert (decision.verdict, decision.reason) == (Verdict.MACHINE, "beep at 844 Hz")
    for voice in ("en-us", "en-gb+m3", "en-us+f3"):
        held = speak("hellooooo, hmmmmm, ooooh", voice, 120)  # long vowels: the most tone-like speech
        decision, _ = _run(_answer(_quiet(0.2), held, _quiet(3), loss=0.0))
        assert decision is not None
        assert "beep" not in decision.reason


def test_nobody_speaking_or_only_line_noise_is_unknown_never_a_machine() -> None:
    decision, _ = _run(_answer(_quiet(6), snr_db=10, loss=0.05))
    assert decision is not None
    assert (decision.verdict, decision.reason) == (Verdict.UNKNOWN, "nobody spoke")
    assert decision.after_ms == AmdSettings().initial_silence_ms  # the audio's own time


def test_a_greetings_words_decide_machine_when_an_stt_hears_them() -> None:
    detector = AnsweringMachineDetector()
    assert detector.heard("hello who is this") is None
    decision = detector.heard("Sorry, I can\u2019t take your call. Please leave a message after the tone")
    assert decision is not None
    assert decision.verdict is Verdict.MACHINE
    assert "leave a message" in decision.reason
    assert detector.heard("leave a message") is None  # decided once


def test_only_telephone_rates_are_taken() -> None:
    with pytest.raises(CodecError):
        AnsweringMachineDetector(sample_rate=44100)


def test_a_stall_inside_a_persons_hello_is_not_the_quiet_after_it() -> None:
    # The carrier's RTP stalls for a second in the middle of "hello there?": concealment frames come
    # meanwhile. A person is told only once real quiet follows the end of what they said.
    first, rest = speak("hello", "en-us", 165), speak("there, who is it?", "en-us", 165)
    heard_before = _answer(_quiet(0.3), first, seed=3, loss=0.0)
    heard_after = _answer(rest, _quiet(3), seed=4, loss=0.0)
    detector = AnsweringMachineDetector()
    frames = [(heard_before[i : i + FRAME], True) for i in range(0, len(heard_before) - FRAME + 1, FRAME)]
    frames += [(np.zeros(FRAME, np.int16), False)] * 50  # one second of concealment
    frames += [(heard_after[i : i + FRAME], True) for i in range(0, len(heard_after) - FRAME + 1, FRAME)]
    decision, at_frame = None, 0
    for n, (pcm, heard) in enumerate(frames):
        out = detector.feed(pcm, heard=heard)
        if isinstance(out, Decision):
            decision, at_frame = out, n
            break
    assert decision is not None
    resumed = len(heard_before) // FRAME + 50
    assert at_frame > resumed  # not during the stall
    assert decision.speech_ended_ms is not None
    assert decision.speech_ended_ms > resumed * 20  # the quiet came after the rest of what was said
