"""A whole conversation with simulated providers, its turn timestamps checked arithmetically, on
virtual time (the loop's clock jumps to its next timer instead of sleeping)."""

import asyncio

import pytest

from tests.support.voice import Line
from voicegrid.pipeline import ToolRunner, VoiceConfig, VoiceSession
from voicegrid.pipeline.events import TurnMetrics
from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.registry import build_llm, build_stt, build_tts

pytestmark = pytest.mark.virtual_time

FINAL_MS, FIRST_TOKEN_MS, FIRST_BYTE_MS = 150, 400, 150
SLACK_S = 0.060  # event-loop and 20 ms frame granularity
EPSILON = 1e-9  # virtual time is exact, but sums of float seconds are not


def make_session(transcripts: list[str], replies: list[object], **config: object) -> VoiceSession:
    session: VoiceSession
    stt = build_stt(
        [ProviderConfig("simulated", options={"transcripts": transcripts, "final_ms": FINAL_MS})],
        lambda stage, e: session.provider_failed(stage, e),
    )
    llm = build_llm(
        [ProviderConfig("simulated", options={"replies": replies, "first_token_ms": FIRST_TOKEN_MS})],
        lambda stage, e: session.provider_failed(stage, e),
    )
    tts = build_tts(
        [ProviderConfig("simulated", options={"first_byte_ms": FIRST_BYTE_MS, "ms_per_char": 20})],
        lambda stage, e: session.provider_failed(stage, e),
    )
    tools = ToolRunner([{"name": "end_call", "kind": "end_call"}])
    session = VoiceSession(
        VoiceConfig(greeting="Hello, how can I help?", **config),  # type: ignore[arg-type]
        stt=stt,
        llm=llm,
        tts=tts,
        tools=tools,
    )
    return session


def check_turn(turn: TurnMetrics, min_silence_s: float = 0.2) -> None:
    assert turn.speech_end_at is not None
    assert turn.stt_final_at is not None
    assert turn.turn_end_at is not None
    assert turn.llm_first_token_at is not None
    assert turn.tts_first_audio_at is not None
    assert turn.first_packet_at is not None
    # The STT is asked to finalize after the VAD's quiet, and answers FINAL_MS later.
    stt = turn.stt_final_at - turn.speech_end_at
    assert min_silence_s + FINAL_MS / 1000 - 0.021 <= stt <= min_silence_s + FINAL_MS / 1000 + SLACK_S
    # The reply is requested as soon as the final arrives.
    assert 0 <= turn.turn_end_at - turn.stt_final_at <= SLACK_S
    llm = turn.llm_first_token_at - turn.turn_end_at
    assert FIRST_TOKEN_MS / 1000 - EPSILON <= llm <= FIRST_TOKEN_MS / 1000 + SLACK_S
    tts = turn.tts_first_audio_at - turn.llm_first_token_at
    assert FIRST_BYTE_MS / 1000 - EPSILON <= tts <= FIRST_BYTE_MS / 1000 + SLACK_S
    # The first frame goes out at the next 20 ms tick.
    assert 0 <= turn.first_packet_at - turn.tts_first_audio_at <= 0.020 + SLACK_S
    metrics = turn.as_dict()
    # The intervals tile voice-to-voice, with our gap before the reply is asked for and the LLM's
    # time until its first sentence went to the TTS.
    parts = ["endpointing_ms", "stt_final_ms", "tts_first_audio_ms", "first_packet_ms"]
    assert turn.tts_request_at is not None
    gap = (turn.turn_end_at - turn.stt_final_at + turn.tts_request_at - turn.turn_end_at) * 1000
    assert metrics["voice_to_voice_ms"] == pytest.approx(sum(metrics[p] for p in parts) + gap, abs=0.5)


async def test_a_two_turn_conversation_records_every_timestamp_in_order_and_ends_with_the_agent() -> None:
    session = make_session(
        ["are you open tonight", "thanks bye"],
        ["Yes, we are open until ten.", {"text": "Goodbye!", "tools": [["end_call", {"reason": "done"}]]}],
    )
    seen: list[object] = []
    session.observers.append(seen.append)
    line = Line(speech=[(2.0, 1.0), (5.5, 0.8)])
    await line.run(session, seconds=12)
    await session.wait_closed()
    await asyncio.sleep(0)  # let cancelled provider tasks finish
    leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert leaked == []  # the call's tasks died with it
    assert line.hung_up == "agent"
    assert seen == session.events  # observers got every event, in order
    turns = session.turns
    assert [t.user_text for t in turns] == ["are you open tonight", "thanks bye"]
    assert [t.agent_text for t in turns] == ["Yes, we are open until ten.", "Goodbye!"]
    for turn in turns:
        check_turn(turn)
    # What the caller heard: the greeting, then one answer per turn, each after the caller stopped.
    spans = line.voiced_spans()
    assert len(spans) == 3
    assert spans[0][0] < 0.5
    assert turns[0].first_packet_at is not None
    assert turns[0].speech_end_at is not None
    assert spans[1][0] == pytest.approx(turns[0].first_packet_at - line.started_at, abs=0.025)
    said = [(e["speaker"], e["text"]) for e in session.summary()["transcript"]]
    assert said == [
        ("agent", "Hello, how can I help?"),
        ("caller", "are you open tonight"),
        ("agent", "Yes, we are open until ten."),
        ("caller", "thanks bye"),
        ("agent", "Goodbye!"),
    ]
    usage = {(u["stage"], u["provider"]): u for u in session.summary()["usage"]}
    assert usage[("stt", "simulated")]["audio_seconds"] > 5
    # each piece as sent to the TTS: "Yes," went ahead of the rest of its sentence
    pieces = ["Hello, how can I help?", "Yes,", "we are open until ten.", "Goodbye!"]
    assert usage[("tts", "simulated")]["characters"] == sum(len(p) for p in pieces)
    assert usage[("llm", "simulated")]["tokens_out"] > 0
