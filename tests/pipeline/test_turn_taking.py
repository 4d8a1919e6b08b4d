"""Barge-in, a caller who goes on talking, silence, failover and bad tool calls, on a scripted line."""

import asyncio
import json
import time

import pytest

from tests.support.voice import Line
from voicegrid.core.egress import PERMISSIVE
from voicegrid.core.webhooks import verify
from voicegrid.pipeline import ToolRunner, VoiceConfig, VoiceSession
from voicegrid.pipeline.events import BargeIn, ProviderFailed, Said
from voicegrid.pipeline.session import MAX_TURN_CHARS
from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.llm.base import ToolCall
from voicegrid.providers.registry import build_llm, build_stt, build_tts
from voicegrid.providers.stt.base import Transcript

pytestmark = pytest.mark.virtual_time


def session_with(
    stt: list[dict[str, object]],
    llm: list[dict[str, object]],
    tts: list[dict[str, object]] | None = None,
    tools: ToolRunner | None = None,
    **config: object,
) -> VoiceSession:
    session: VoiceSession

    def report(stage: str, error: object) -> None:
        session.provider_failed(stage, error)  # type: ignore[arg-type]

    def configs(items: list[dict[str, object]]) -> list[ProviderConfig]:
        return [ProviderConfig("simulated", options=o, first_byte_timeout_s=1.0) for o in items]

    session = VoiceSession(
        VoiceConfig(**config),  # type: ignore[arg-type]
        stt=build_stt(configs(stt), report),
        llm=build_llm(configs(llm), report),
        tts=build_tts(configs(tts or [{"first_byte_ms": 50, "ms_per_char": 60}]), report),
        tools=tools,
    )
    return session


async def test_barge_in_flushes_the_agent_at_once_and_keeps_only_the_words_played() -> None:
    long_answer = "We bake every pizza in a wood oven, with flour from a mill nearby. " * 3
    session = session_with(
        [{"transcripts": ["tell me about your pizza", "stop"], "final_ms": 50}],
        [{"replies": [long_answer.strip(), "Sure."], "first_token_ms": 50}],
    )
    line = Line(speech=[(0.5, 0.8), (3.5, 0.6)])  # the second part talks over the long answer
    await line.run(session, seconds=6)
    await session.wait_closed()
    barge = [e for e in session.events if isinstance(e, BargeIn)]
    assert len(barge) == 1
    # Outbound audio stopped in the frame the decision was made: no voiced frame went out after it.
    next_reply = session.turns[1].first_packet_at
    assert next_reply is not None
    after = [t for t, voiced in line.sent if voiced and barge[0].at < t < next_reply - 0.001]
    assert after == []
    interrupted = session.turns[0]
    assert interrupted.interrupted
    assert 0 < len(interrupted.agent_text) < len(long_answer.strip())
    assert long_answer.startswith(interrupted.agent_text.rsplit(" ", 1)[0])
    history = [m for m in session.history if m["role"] == "assistant"]
    assert history[0]["content"] == interrupted.agent_text


async def test_a_reply_not_yet_heard_is_dropped_when_the_caller_goes_on_and_their_words_join() -> None:
    session = session_with(
        [{"transcripts": ["i would like", "a large pizza"], "final_ms": 50}],
        [{"replies": ["What would you like?", "One large pizza, coming up."], "first_token_ms": 700}],
    )
    # A pause of 0.5 s: the turn ends, the LLM is asked, and the caller goes on before it answers.
    line = Line(speech=[(0.5, 0.6), (1.6, 0.6)])
    await line.run(session, seconds=6)
    await session.wait_closed()
    assert [t.user_text for t in session.turns] == ["i would like a large pizza"]
    assert session.turns[0].agent_text == "One large pizza, coming up."
    users = [m["content"] for m in session.history if m["role"] == "user"]
    assert users == ["i would like a large pizza"]


async def test_an_stt_that_sends_nothing_ends_the_turn_on_vad_silence_with_a_reprompt() -> None:
    session = session_with(
        [{"transcripts": [], "final_ms": 5000}],
        [{"replies": ["never asked"]}],
        [{"first_byte_ms": 20, "ms_per_char": 20}],
        max_wait_ms=500,
    )
    line = Line(speech=[(0.3, 0.8)])
    await line.run(session, seconds=3.5)
    await session.wait_closed()
    assert len(session.turns) == 1
    turn = session.turns[0]
    assert turn.user_text == ""
    assert turn.agent_text == VoiceConfig().not_heard_text
    assert turn.turn_end_at is not None
    assert turn.speech_end_at is not None
    assert 0.5 <= turn.turn_end_at - turn.speech_end_at < 0.6
    assert [u.stage for u in session.meter.lines() if u.requests] == ["stt", "tts"]  # no LLM asked


async def test_silence_brings_reprompts_then_a_goodbye_and_hangup() -> None:
    session = session_with([{}], [{}], reprompt_after_s=0.6, max_reprompts=2, greeting="Hi.")
    line = Line()
    await line.run(session, seconds=8)
    await session.wait_closed()
    said = [e["text"] for e in session.summary()["transcript"]]
    assert said == ["Hi.", "Are you still there?", "Are you still there?", "Goodbye."]
    assert line.hung_up == "no answer"


@pytest.mark.parametrize("stage", ["stt", "llm", "tts"])
async def test_a_provider_with_wrong_credentials_hands_over_and_is_not_tried_again_on_the_call(
    stage: str,
) -> None:
    broken: dict[str, object] = {"fail": "auth"}
    stt: list[dict[str, object]] = [{"transcripts": ["hello", "again"], "final_ms": 50}]
    llm: list[dict[str, object]] = [{"replies": ["Hi there.", "Yes?"], "first_token_ms": 50}]
    tts: list[dict[str, object]] = [{"first_byte_ms": 20, "ms_per_char": 30}]
    chosen = {"stt": stt, "llm": llm, "tts": tts}[stage]
    chosen.insert(0, broken)
    session = session_with(stt, llm, tts)
    line = Line(speech=[(0.3, 0.6), (2.0, 0.6)])
    await line.run(session, seconds=3.5)
    await session.wait_closed()
    assert [(t.user_text, t.agent_text) for t in session.turns] == [("hello", "Hi there."), ("again", "Yes?")]
    failures = [e for e in session.events if isinstance(e, ProviderFailed)]
    assert [(f.stage, f.error["kind"], f.error["retryable"]) for f in failures] == [
        (stage, "ProviderAuthError", False)
    ]


async def test_an_stt_stream_lost_mid_utterance_is_replayed_to_the_next_provider() -> None:
    session = session_with(
        [{"fail": "midstream", "transcripts": ["lost"]}, {"transcripts": ["hello again"], "final_ms": 50}],
        [{"replies": ["Welcome back."], "first_token_ms": 20}],
    )
    line = Line(speech=[(0.3, 0.8)])
    await line.run(session, seconds=2.5)
    await session.wait_closed()
    assert [t.user_text for t in session.turns] == ["hello again"]
    assert [e.error["kind"] for e in session.events if isinstance(e, ProviderFailed)] == ["ProviderClosed"]


async def test_a_tool_call_with_invalid_json_gets_an_error_answer_and_the_call_goes_on() -> None:
    runner = ToolRunner([{"name": "end_call", "kind": "end_call"}])
    outcome = await runner.run(ToolCall("1", "end_call", "{not json"))
    assert not outcome.ok
    assert outcome.action is None
    assert "not valid JSON" in json.loads(outcome.result)["error"]
    unknown = await runner.run(ToolCall("2", "launch_rocket", "{}"))
    assert "no tool named" in json.loads(unknown.result)["error"]
    session = session_with(
        [{"transcripts": ["bye"], "final_ms": 20}],
        [{"replies": [{"text": "Okay.", "tools": [["end_call", "{oops"]]}], "after_tool": "Sorry, goodbye."}],
        tools=runner,
    )
    line = Line(speech=[(0.3, 0.5)])
    await line.run(session, seconds=3)
    await session.wait_closed()
    assert line.hung_up is None  # the broken call did nothing; the model was told and spoke again
    assert session.turns[0].agent_text == "Okay. Sorry, goodbye."


async def test_a_webhook_that_hangs_answers_with_its_timeout_and_a_signed_request_reaches_the_server() -> (
    None
):
    bodies: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)}
        body = await reader.readexactly(int(headers["content-length"]))
        path = lines[0].split()[1]
        bodies.append((path, headers, body))
        if path == "/hang":
            await asyncio.sleep(5)
        answer = b'{"table": "booked"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n" + answer
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # This test's server is on loopback, which only a platform that allows private webhooks reaches.
    tools = [
        {"name": "book", "kind": "webhook", "url": f"http://127.0.0.1:{port}/ok", "timeout_ms": 2000},
        {"name": "stuck", "kind": "webhook", "url": f"http://127.0.0.1:{port}/hang", "timeout_ms": 200},
    ]
    runner = ToolRunner(tools, signing_key=b"k" * 32, call_id="call_1", destinations=PERMISSIVE)
    try:
        ok = await runner.run(ToolCall("1", "book", '{"people": 2}'))
        assert json.loads(ok.result) == {"table": "booked"}
        started = time.monotonic()
        stuck = await runner.run(ToolCall("2", "stuck", "{}"))
        assert time.monotonic() - started < 1.0
        assert "did not answer in 0.2 s" in json.loads(stuck.result)["error"]
    finally:
        server.close()
    guarded = ToolRunner(tools, signing_key=b"k" * 32)  # the default policy: public addresses only
    refused = await guarded.run(ToolCall("3", "book", "{}"))
    assert "address is not allowed" in json.loads(refused.result)["error"]
    assert len(bodies) == 2  # the guarded call never reached the server
    _, headers, body = bodies[0]
    assert verify(b"k" * 32, body, headers["x-voicegrid-signature"], now=time.time())
    assert not verify(b"x" * 32, body, headers["x-voicegrid-signature"], now=time.time())
    assert not verify(b"k" * 32, body, headers["x-voicegrid-signature"], now=time.time() + 3600)
    assert json.loads(body)["arguments"] == {"people": 2}


async def test_early_llm_starts_on_a_stable_interim_and_keeps_the_reply_when_the_final_agrees() -> None:
    session = session_with(
        [{"transcripts": ["hello"], "final_ms": 300, "interim": True}],
        [{"replies": ["Hi!"], "first_token_ms": 100}],
        early_llm=True,
    )
    line = Line(speech=[(0.3, 0.6)])
    await line.run(session, seconds=2.5)
    await session.wait_closed()
    [turn] = session.turns
    assert (turn.user_text, turn.agent_text) == ("hello", "Hi!")
    assert turn.turn_end_at is not None
    assert turn.stt_final_at is not None
    assert turn.llm_first_token_at is not None
    # The LLM was asked before the final arrived, and had answered by then.
    assert turn.turn_end_at < turn.llm_first_token_at < turn.stt_final_at


async def test_early_llm_is_cancelled_and_asked_again_when_the_final_differs() -> None:
    session = session_with(
        [{"transcripts": ["are you open tonight"], "final_ms": 300, "interim": True}],
        [{"replies": ["(answer to a half sentence)", "Yes, until ten."], "first_token_ms": 500}],
        early_llm=True,
    )
    line = Line(speech=[(0.3, 0.8)])
    await line.run(session, seconds=3.5)
    await session.wait_closed()
    assert [(t.user_text, t.agent_text) for t in session.turns] == [
        ("are you open tonight", "Yes, until ten.")
    ]
    assert [m["content"] for m in session.history if m["role"] == "user"] == ["are you open tonight"]


async def test_a_callers_hello_before_the_greeting_is_heard_neither_drops_it_nor_is_lost() -> None:
    # The greeting's first audio comes after 600 ms; the person's "hello?" starts at once and is over
    # before it: the greeting is said whole, then the hello is answered.
    session = session_with(
        [{"transcripts": ["hello"], "final_ms": 50}],
        [{"replies": ["How can I help?"], "first_token_ms": 50}],
        [{"first_byte_ms": 600, "ms_per_char": 30}],
        greeting="Hi Sam, about your pizza.",
        min_silence_ms=200,
    )
    line = Line(speech=[(0.05, 0.3)])
    await line.run(session, seconds=5)
    await session.wait_closed()
    agent = [e.text for e in session.events if isinstance(e, Said) and e.speaker == "agent"]
    assert agent == ["Hi Sam, about your pizza.", "How can I help?"]
    assert [t.user_text for t in session.turns] == ["hello"]
    assert not [e for e in session.events if isinstance(e, BargeIn)]


def turn_ended_after_speech_s(session: VoiceSession) -> float:
    """Seconds from the end of the caller's speech to the end of the first turn."""
    turn = session.turns[0]
    assert turn.turn_end_at is not None
    assert turn.speech_end_at is not None
    return turn.turn_end_at - turn.speech_end_at


async def test_the_stts_own_end_of_speech_ends_the_turn_before_the_vads_quiet() -> None:
    """The STT endpoints 60 ms after speech and its final comes 50 ms later: the turn ends then, not
    after the VAD's 200 ms of quiet plus a finalize and its final."""
    stt: list[dict[str, object]] = [{"transcripts": ["are you open"], "final_ms": 50, "endpointing_ms": 60}]
    llm: list[dict[str, object]] = [{"replies": ["Until ten."], "first_token_ms": 50}]
    session = session_with(stt, llm, stt_chunk_ms=20, min_silence_ms=200)
    line = Line(speech=[(0.5, 0.8)])
    await line.run(session, seconds=2.5)
    await session.wait_closed()
    assert [(t.user_text, t.agent_text) for t in session.turns] == [("are you open", "Until ten.")]
    assert turn_ended_after_speech_s(session) < 0.15  # the VAD would have called it at 0.2


async def test_a_caller_who_goes_on_after_the_stt_ended_the_turn_is_heard_whole() -> None:
    """The STT ended the turn on a short pause; the caller goes on before the reply is heard: the
    reply is dropped, and the answer is to both parts."""
    stt: list[dict[str, object]] = [
        {"transcripts": ["i would like", "a large pizza"], "final_ms": 40, "endpointing_ms": 60}
    ]
    llm: list[dict[str, object]] = [
        {"replies": ["What would you like?", "One large pizza, coming up."], "first_token_ms": 400}
    ]
    session = session_with(stt, llm, stt_chunk_ms=20, min_silence_ms=200)
    line = Line(speech=[(0.5, 0.6), (1.24, 0.6)])  # a 140 ms pause: the STT's end, not the VAD's
    await line.run(session, seconds=6)
    await session.wait_closed()
    assert [t.user_text for t in session.turns] == ["i would like a large pizza"]
    assert session.turns[0].agent_text == "One large pizza, coming up."
    llm_asked = sum(u.requests for u in session.meter.lines() if u.stage == "llm")
    assert llm_asked == 2  # the STT's end did end the first part's turn; its reply was dropped


async def test_an_stt_end_of_speech_said_while_the_caller_is_talking_is_stale_and_ignored() -> None:
    """A final that arrives while the VAD hears voice is of a part of what the caller is saying: it
    neither ends the turn nor stands for its final; the words of both parts are answered together."""
    stt: list[dict[str, object]] = [{"transcripts": ["one", "two"], "final_ms": 300, "endpointing_ms": 40}]
    llm: list[dict[str, object]] = [{"replies": ["Okay."], "first_token_ms": 50}]
    session = session_with(stt, llm, stt_chunk_ms=20, min_silence_ms=200)
    line = Line(speech=[(0.5, 0.5), (1.06, 0.8)])  # its final lands mid second part
    await line.run(session, seconds=3.5)
    await session.wait_closed()
    assert [t.user_text for t in session.turns] == ["one two"]


async def test_an_stt_end_of_speech_that_beats_the_vads_half_quiet_ends_the_turn_at_the_vads_quiet() -> None:
    """The STT endpoints 20 ms after speech and its final comes 40 ms later, before the VAD has heard
    half its quiet; the finalize that follows finds nothing left to transcribe, so no final comes
    after it. Nothing was said since that final: the turn ends at the VAD's quiet, not at max_wait."""
    stt: list[dict[str, object]] = [{"transcripts": ["are you open"], "final_ms": 40, "endpointing_ms": 20}]
    llm: list[dict[str, object]] = [{"replies": ["Until ten."], "first_token_ms": 50}]
    session = session_with(stt, llm, stt_chunk_ms=20, min_silence_ms=200, max_wait_ms=1500)
    line = Line(speech=[(0.5, 0.8)])
    await line.run(session, seconds=3.5)
    await session.wait_closed()
    assert [(t.user_text, t.agent_text) for t in session.turns] == [("are you open", "Until ten.")]
    assert turn_ended_after_speech_s(session) < 0.3  # max_wait would make it 1.5
    assert session.turns[0].stt_final_at is not None


async def test_a_short_first_clause_goes_at_once_and_the_rest_follows_it_without_a_gap() -> None:
    """The TTS streams in real time and answers each request after 150 ms: "Yes," goes to it as soon
    as its comma is followed, and the rest of the sentence is synthesised while "Yes," is said, so
    the caller hears one stretch of speech."""
    stt: list[dict[str, object]] = [{"transcripts": ["are you open"], "final_ms": 50}]
    llm: list[dict[str, object]] = [{"replies": ["Yes, we are open until ten."], "first_token_ms": 100}]
    tts: list[dict[str, object]] = [
        {"first_byte_ms": 150, "ms_per_char": 60, "chunk_ms": 20, "realtime": True}
    ]
    session = session_with(stt, llm, tts, greeting="")
    line = Line(speech=[(0.5, 0.8)])
    await line.run(session, seconds=5)
    await session.wait_closed()
    turn = session.turns[0]
    assert turn.agent_text == "Yes, we are open until ten."
    assert turn.tts_request_at is not None
    assert turn.llm_first_token_at is not None
    assert turn.tts_request_at - turn.llm_first_token_at < 0.02  # "Yes," did not wait for the rest
    spans = line.voiced_spans()
    assert len(spans) == 1  # no gap between "Yes," and the rest
    assert spans[0][1] - spans[0][0] > 1.4  # all of it: 26 characters at 60 ms


async def test_a_final_that_comes_after_its_turn_was_answered_is_not_said_again_in_the_next() -> None:
    """The STT's final is later than max_wait: the turn is answered on the interim transcript, and
    the late final (the same words) must not be carried into the caller's next turn."""
    session = session_with(
        [{"transcripts": ["are you open today", "thank you bye"], "final_ms": 1500, "interim": True}],
        [{"replies": ["We are open.", "Goodbye."], "first_token_ms": 50}],
        max_wait_ms=600,
    )
    line = Line(speech=[(0.5, 0.8), (5.0, 0.6)])
    await line.run(session, seconds=8)
    await session.wait_closed()
    # each turn on its interim (the first half of its words); neither final is said again after it
    assert [t.user_text for t in session.turns] == ["are you", "thank"]


@pytest.mark.parametrize("speech_only", [False, True])
async def test_an_agent_that_sends_the_stt_speech_only_takes_the_same_turns_on_half_the_audio(
    speech_only: bool,
) -> None:
    stt: list[dict[str, object]] = [{"transcripts": ["are you open", "do you deliver"], "final_ms": 50}]
    llm: list[dict[str, object]] = [{"replies": ["Until ten.", "We do."], "first_token_ms": 50}]
    session = session_with(stt, llm, stt_speech_only=speech_only)
    line = Line(speech=[(2.0, 0.8), (6.0, 0.8)])
    await line.run(session, seconds=9.5)
    await session.wait_closed()
    assert [(t.user_text, t.agent_text) for t in session.turns] == [
        ("are you open", "Until ten."),
        ("do you deliver", "We do."),
    ]
    assert 0.2 <= turn_ended_after_speech_s(session) < 0.3  # the VAD's quiet, then the final at once
    heard = next(u for u in session.meter.lines() if u.stage == "stt").audio_seconds
    if speech_only:  # each line with its pre-roll (0.5-0.6 s) and the hangover (1 s) after it
        assert 2 * (0.5 + 0.8 + 1.0) <= heard <= 2 * (0.6 + 0.8 + 1.0) + 0.1
    else:
        assert heard == pytest.approx(9.5, abs=0.1)


async def test_a_turn_holds_at_most_its_newest_eight_thousand_characters_however_much_the_stt_sends() -> None:
    """A caller who talks without end, or an STT endpoint that sends without end: the turn, and the
    prompt it makes, keep the newest MAX_TURN_CHARS characters."""
    endless = " ".join(f"word{n}" for n in range(4000))  # about 35,000 characters in one final
    session = session_with(
        [{"transcripts": [endless], "final_ms": 50}], [{"replies": ["I see."], "first_token_ms": 50}]
    )
    line = Line(speech=[(0.5, 0.8)])
    await line.run(session, seconds=3)
    await session.wait_closed()
    assert [t.user_text for t in session.turns] == [endless[-MAX_TURN_CHARS:]]
    asked = [m for m in session.history if m["role"] == "user"]
    assert asked[0]["content"] == endless[-MAX_TURN_CHARS:]


def test_finals_that_keep_coming_within_one_turn_keep_only_the_newest_words() -> None:
    session = session_with([{"transcripts": []}], [{"replies": []}])
    for n in range(100):  # 100 finals of 1,000 characters before the turn ends
        session._on_transcript(Transcript(f"{n:04d}" + "x" * 996, is_final=True))
    kept = list(session._finals)
    assert sum(map(len, kept)) <= MAX_TURN_CHARS
    assert kept[-1].startswith("0099")
    assert kept[0].startswith(f"{100 - len(kept):04d}")  # the oldest went first, in order
