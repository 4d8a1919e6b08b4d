"""The Deepgram, Aura-2, ElevenLabs and OpenAI clients against their protocol emulators.

Each client holds a conversation of several turns, meets every fault kind with the right error, and
hands the turn to the next provider inside a failover list.
"""

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.support.cycles import cyclic_garbage
from voicegrid.core.egress import PERMISSIVE
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.errors import (
    ProviderAuthError,
    ProviderClosed,
    ProviderConnectError,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from voicegrid.providers.llm.base import LlmUsage, TextDelta, ToolCall, ToolSpec
from voicegrid.providers.registry import build_llm, build_stt, build_tts
from voicegrid.providers.stt import deepgram as deepgram_client
from voicegrid.providers.stt.base import Transcript
from voicegrid.providers.tts import elevenlabs as elevenlabs_client
from voicegrid.providers.tts.base import TtsStage
from voicegrid.providers.tts.deepgram import AuraTts
from voicegrid.providers.tts.simulated import voice_like
from voicegrid.testing.emulators import DeepgramEmulator, ElevenLabsEmulator, Emulator, Faults, OpenAiEmulator

KEY = "test-key"
FAULT_ERRORS = {
    "401": ProviderAuthError,
    "429": ProviderRateLimited,
    "500": ProviderServerError,
    "disconnect": ProviderClosed,
    "slow": ProviderTimeout,
}


async def running(emulator: Emulator) -> Emulator:
    await emulator.start()
    return emulator


@pytest.fixture
async def emulators() -> AsyncIterator[list[Emulator]]:
    started: list[Emulator] = []
    yield started
    for emulator in started:
        await emulator.stop()


def config(provider: str, emulator: Emulator, model: str | None = None, key: str = KEY) -> ProviderConfig:
    base = emulator.http_url + ("/v1" if provider == "openai" else "")
    return ProviderConfig(
        provider, model=model, api_key=key, base_url=base, first_byte_timeout_s=1.0, destinations=PERMISSIVE
    )


async def say(stream: object, seconds: float, rate: int = 16000) -> None:
    speech = voice_like(seconds, rate)
    frame = rate // 50
    for i in range(0, len(speech), frame):
        await stream.send(speech[i : i + frame].tobytes())  # type: ignore[attr-defined]
    for _ in range(20):  # 400 ms of quiet: past Flux's own end-of-turn
        await stream.send(np.zeros(frame, np.int16).tobytes())  # type: ignore[attr-defined]


async def final(stream: object) -> str:
    return (await final_transcript(stream)).text


async def final_transcript(stream: object) -> Transcript:
    while True:
        item = await asyncio.wait_for(stream.recv(), 5)  # type: ignore[attr-defined]
        assert item is not None
        if item.is_final:
            return item  # type: ignore[no-any-return]


# ---- Deepgram STT -------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["nova-3", "flux-general-en"])
async def test_deepgram_stt_transcribes_each_utterance_of_a_conversation(
    emulators: list[Emulator], model: str
) -> None:
    emulator = DeepgramEmulator(api_key=KEY, first_byte_ms=20, script=["hello", "are you open", "bye"])
    emulators.append(await running(emulator))
    meter = Meter()
    stream = await build_stt([config("deepgram", emulator, model)]).open(16000, "en-US", meter)
    heard, ends = [], []
    for _ in range(3):
        await say(stream, 0.5)
        await stream.finalize()
        transcript = await final_transcript(stream)
        heard.append(transcript.text)
        ends.append(transcript.audio_end_s)
    await stream.aclose()
    assert heard == ["hello", "are you open", "bye"]
    # where each final's audio ends on the stream (its start and duration): in order, within the
    # audio sent (a final may end at a pause inside an utterance: the emulator endpoints as Deepgram)
    assert None not in ends
    assert 0 < ends[0] < ends[1] < ends[2] <= 3 * 0.9 + 0.01  # type: ignore[operator]
    usage = meter.line("stt", "deepgram", model)
    assert usage.audio_seconds == pytest.approx(3 * 0.9, abs=0.05)
    if model.startswith("nova"):
        assert '{"type": "Finalize"}' in emulator.messages
        assert emulator.messages[-1] == '{"type": "CloseStream"}'


@pytest.mark.parametrize("fault", sorted(FAULT_ERRORS))
async def test_deepgram_stt_maps_each_fault_and_fails_over_within_the_utterance(
    emulators: list[Emulator], fault: str
) -> None:
    broken = DeepgramEmulator(api_key=KEY, faults=Faults(fault, slow_s=3), script=["never"])
    healthy = DeepgramEmulator(api_key=KEY, first_byte_ms=10, script=["recovered"])
    for emulator in (broken, healthy):
        emulators.append(await running(emulator))
    errors: list[ProviderError] = []
    # endpointing longer than the syllables' gaps: the utterance is cut by the fault, not by its end
    configs = [
        dataclasses.replace(config("deepgram", e), options={"endpointing_ms": 300}) for e in (broken, healthy)
    ]
    stt = build_stt(configs, lambda s, e: errors.append(e))
    stream = await stt.open(16000, "en-US", Meter())
    await say(stream, 0.5)
    await stream.finalize()
    if fault == "slow":  # a stream that never answers is the turn's max-wait to handle, not a failure
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(stream.recv(), 0.5)
        await stream.aclose()
        return
    assert await final(stream) == "recovered"
    await stream.aclose()
    assert [type(e) for e in errors] == [FAULT_ERRORS[fault]]


async def test_deepgram_stt_with_a_wrong_key_is_an_auth_error_that_is_not_retryable(
    emulators: list[Emulator],
) -> None:
    emulator = DeepgramEmulator(api_key=KEY)
    emulators.append(await running(emulator))
    with pytest.raises(ProviderAuthError) as caught:
        await build_stt([config("deepgram", emulator, key="wrong")]).open(16000, "en-US", Meter())
    assert not caught.value.retryable


@pytest.mark.parametrize("keepalive_s", [0.15, 5.0])
async def test_a_deepgram_stream_that_hears_no_audio_is_held_open_by_keepalives_and_closed_without(
    emulators: list[Emulator], monkeypatch: pytest.MonkeyPatch, keepalive_s: float
) -> None:
    # Deepgram closes a stream that gets neither audio nor a message for 10 s (NET-0001); here 0.5 s.
    monkeypatch.setattr(deepgram_client, "KEEPALIVE_S", keepalive_s)
    emulator = DeepgramEmulator(api_key=KEY, first_byte_ms=10, idle_timeout_s=0.5, script=["still here"])
    emulators.append(await running(emulator))
    stream = await build_stt([config("deepgram", emulator)]).open(16000, "en-US", Meter())
    await asyncio.sleep(1.2)  # a caller who has not said a word yet, on an agent that sends speech only
    if keepalive_s < 0.5:
        await say(stream, 0.5)
        await stream.finalize()
        assert await final(stream) == "still here"
        assert emulator.messages.count('{"type": "KeepAlive"}') >= 5
        await stream.aclose()
    else:
        with pytest.raises(ProviderClosed, match="NET-0001"):
            await asyncio.wait_for(stream.recv(), 5)
        assert '{"type": "KeepAlive"}' not in emulator.messages


# ---- TTS: Aura-2 and ElevenLabs ----------------------------------------------------------------
async def speak(tts: object, text: str, rate: int, meter: Meter) -> int:
    samples = 0
    async for pcm in tts.synthesize(text, rate, meter):  # type: ignore[attr-defined]
        samples += len(pcm)
    return samples


@pytest.mark.parametrize(
    ("provider", "rate"),
    [("deepgram", 16000), ("deepgram", 8000), ("elevenlabs", 16000), ("elevenlabs", 8000)],
)
async def test_tts_clients_speak_several_sentences_at_the_calls_rate(
    emulators: list[Emulator], provider: str, rate: int
) -> None:
    emulator = (DeepgramEmulator if provider == "deepgram" else ElevenLabsEmulator)(
        api_key=KEY, first_byte_ms=10
    )
    emulators.append(await running(emulator))
    meter = Meter()
    tts = build_tts([config(provider, emulator)])
    for sentence in ["Hello there.", "We are open until ten tonight.", "Goodbye!"]:
        samples = await speak(tts, sentence, rate, meter)
        assert samples == pytest.approx(len(sentence) * 0.060 * rate, abs=rate * 0.02)
    tts.cancel()  # a barge-in between answers: the next answer clears first
    assert await speak(tts, "Again.", rate, meter) > 0
    await tts.aclose()
    usage = next(u for u in meter.lines() if u.provider == provider)
    assert usage.characters == len("Hello there.We are open until ten tonight.Goodbye!Again.")
    assert emulator.requests == 1  # one WebSocket for the whole call
    if provider == "deepgram":
        assert '{"type": "Clear"}' in emulator.messages


def said_samples(text: str, rate: int) -> object:
    """The emulators' audio for `text`: 60 ms a character."""
    return pytest.approx(len(text) * 0.060 * rate, abs=rate * 0.02)


async def aura(emulators: list[Emulator], first_byte_ms: int) -> tuple[DeepgramEmulator, TtsStage]:
    """A running Deepgram emulator and an Aura client of it."""
    emulator = DeepgramEmulator(api_key=KEY, first_byte_ms=first_byte_ms)
    emulators.append(await running(emulator))
    return emulator, build_tts([config("deepgram", emulator)])


async def heard_first_audio(tts: TtsStage, meter: Meter) -> "asyncio.Task[None]":
    """A long piece being said, once its first audio came: cancel the task to cut it off."""
    heard = asyncio.Event()

    async def cut_short() -> None:
        text = "This answer is long enough to be cut off by the caller before its audio is all here."
        async for _ in tts.synthesize(text, 8000, meter):
            heard.set()
            await asyncio.sleep(3600)  # the caller talks over it: cancelled by the test

    speaking = asyncio.create_task(cut_short())
    await heard.wait()
    return speaking


async def test_aura_pieces_asked_for_at_once_share_the_calls_socket_in_order_and_each_is_whole(
    emulators: list[Emulator],
) -> None:
    """The pipeline synthesises the next piece while one is still arriving: its text goes out on the
    call's one socket at once, and its audio is read after the audio of the piece before."""
    emulator, tts = await aura(emulators, first_byte_ms=50)
    meter = Meter()
    first, second, third = "Yes,", "we are open until ten tonight,", "every day of the week."
    counts = await asyncio.gather(*(speak(tts, text, 8000, meter) for text in (first, second, third)))
    for text, samples in zip((first, second, third), counts, strict=True):
        assert samples == said_samples(text, 8000)
    assert emulator.requests == 1  # one socket, no REST request
    speaks = [json.loads(m)["text"] for m in emulator.messages if json.loads(m)["type"] == "Speak"]
    assert speaks == [first, second, third]
    assert await speak(tts, "Goodbye!", 8000, meter) == said_samples("Goodbye!", 8000)
    await tts.aclose()


async def test_a_piece_given_up_mid_audio_voids_the_pieces_sent_after_it_and_the_next_clears_first(
    emulators: list[Emulator],
) -> None:
    emulator, tts = await aura(emulators, first_byte_ms=20)
    meter = Meter()
    speaking = await heard_first_audio(tts, meter)
    after = asyncio.create_task(speak(tts, "And one more thing.", 8000, meter))  # sent behind it
    await asyncio.sleep(0.05)
    speaking.cancel()
    # the piece sent behind the cut one cannot tell its audio from the leftovers: it is said by REST
    assert await after == said_samples("And one more thing.", 8000)
    assert emulator.requests == 2
    assert await speak(tts, "Sorry, go on.", 8000, meter) == said_samples("Sorry, go on.", 8000)
    assert '{"type": "Clear"}' in emulator.messages
    assert emulator.requests == 2  # back on the socket, cleared
    await tts.aclose()


async def test_aura_pieces_past_deepgrams_twenty_flushes_a_minute_go_by_rest(
    emulators: list[Emulator],
) -> None:
    emulator, tts = await aura(emulators, first_byte_ms=1)
    meter = Meter()
    for i in range(20):
        assert await speak(tts, f"Piece {i}.", 8000, meter) > 0
    assert emulator.requests == 1
    assert await speak(tts, "One too many.", 8000, meter) == said_samples("One too many.", 8000)
    assert emulator.requests == 2  # REST
    flushes = [m for m in emulator.messages if json.loads(m)["type"] == "Flush"]
    assert len(flushes) == 20
    await tts.aclose()


async def elevenlabs(
    emulators: list[Emulator], first_byte_ms: int, **kwargs: float
) -> tuple[ElevenLabsEmulator, TtsStage]:
    """A running ElevenLabs emulator and a client of it."""
    emulator = ElevenLabsEmulator(api_key=KEY, first_byte_ms=first_byte_ms, **kwargs)
    emulators.append(await running(emulator))
    return emulator, build_tts([config("elevenlabs", emulator)])


async def test_elevenlabs_pieces_asked_for_at_once_are_each_a_context_of_the_calls_one_connection(
    emulators: list[Emulator],
) -> None:
    emulator, tts = await elevenlabs(emulators, first_byte_ms=50)
    meter = Meter()
    texts = ("Yes,", "we are open until ten tonight,", "every day of the week.")
    counts = await asyncio.gather(*(speak(tts, text, 8000, meter) for text in texts))
    for text, samples in zip(texts, counts, strict=True):
        assert samples == said_samples(text, 8000)
    assert emulator.requests == 1
    flushed = {m["context_id"]: m["text"].strip() for m in emulator.messages if m.get("flush")}
    assert sorted(flushed.values()) == sorted(texts)  # one context a piece
    closed = [m["context_id"] for m in emulator.messages if m.get("close_context")]
    assert sorted(closed) == sorted(flushed)
    await tts.aclose()
    assert emulator.messages[-1] == {"close_socket": True}
    assert emulator.errors == []


async def test_after_an_elevenlabs_piece_is_cut_off_the_next_one_hears_only_its_own_audio(
    emulators: list[Emulator],
) -> None:
    emulator, tts = await elevenlabs(emulators, first_byte_ms=20)
    meter = Meter()
    speaking = await heard_first_audio(tts, meter)
    speaking.cancel()
    # the rest of the cut piece's audio still comes on the connection, for its own context
    assert await speak(tts, "Sorry, go on.", 8000, meter) == said_samples("Sorry, go on.", 8000)
    assert emulator.requests == 1
    await tts.aclose()


async def test_a_connection_the_server_closed_while_the_caller_thought_is_replaced_for_the_next_piece(
    emulators: list[Emulator],
) -> None:
    emulator, tts = await elevenlabs(emulators, first_byte_ms=5, max_idle_s=0.2)
    meter = Meter()
    assert await speak(tts, "Hello there.", 8000, meter) == said_samples("Hello there.", 8000)
    await asyncio.sleep(0.5)  # past the server's inactivity timeout: it closed the connection
    assert await speak(tts, "Still there?", 8000, meter) == said_samples("Still there?", 8000)
    assert emulator.requests == 2
    await tts.aclose()


async def test_a_piece_whose_connection_went_away_before_any_of_its_audio_is_said_on_a_new_one(
    emulators: list[Emulator],
) -> None:
    emulator, tts = await elevenlabs(emulators, first_byte_ms=5, drop_first_after=2)
    meter = Meter()
    assert await speak(tts, "We open at eleven.", 8000, meter) == said_samples("We open at eleven.", 8000)
    assert emulator.requests == 2
    flushed = [m["text"].strip() for m in emulator.messages if m.get("flush")]
    assert flushed == ["We open at eleven."] * 2  # sent again; heard once (the samples above)
    await tts.aclose()


async def test_a_piece_that_does_not_take_its_audio_is_failed_past_the_cap_not_held_without_end(
    emulators: list[Emulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket's reader does not wait for a piece: what a piece leaves waiting is capped (here at
    10 KB; 8 MB in service), and past the cap the piece fails while the connection serves on."""
    monkeypatch.setattr(elevenlabs_client, "MAX_WAITING_BYTES", 10_000)
    emulator, tts = await elevenlabs(emulators, first_byte_ms=5)
    meter = Meter()
    slow = tts.synthesize(
        "A long answer of many words, so that its audio is far more than the cap.", 8000, meter
    )

    async def lag() -> None:
        async for _ in slow:
            await asyncio.sleep(0.2)  # a consumer that lags while the rest of the audio comes

    with pytest.raises(ProviderProtocolError, match="more audio than a piece holds"):
        await lag()
    assert await speak(tts, "Next.", 8000, meter) == said_samples("Next.", 8000)
    assert emulator.requests == 1
    await tts.aclose()


async def test_pieces_given_up_before_their_end_never_make_a_sixth_context_on_one_connection(
    emulators: list[Emulator],
) -> None:
    """ElevenLabs refuses a sixth open context and closes the connection: contexts given up and not
    yet final count, so at five the next piece goes on a new connection."""
    emulator, tts = await elevenlabs(emulators, first_byte_ms=300)
    meter = Meter()
    given_up = [asyncio.create_task(speak(tts, f"Piece number {i}.", 8000, meter)) for i in range(5)]
    await asyncio.sleep(0.1)  # all five sent; the server is still on the first one's first byte
    for task in given_up:
        task.cancel()
    await asyncio.gather(*given_up, return_exceptions=True)
    assert await speak(tts, "And now?", 8000, meter) == said_samples("And now?", 8000)
    assert emulator.requests == 2
    await tts.aclose()  # the call is over: the replaced connection goes too, its pieces unsaid
    async with asyncio.timeout(5):  # a guard against a hang, not a measure
        await emulator.none_open.wait()
    assert emulator.errors == []


@pytest.mark.parametrize("provider", ["deepgram", "elevenlabs"])
@pytest.mark.parametrize("fault", sorted(FAULT_ERRORS))
async def test_tts_clients_map_each_fault_and_the_next_provider_speaks_the_sentence(
    emulators: list[Emulator], provider: str, fault: str
) -> None:
    kind = DeepgramEmulator if provider == "deepgram" else ElevenLabsEmulator
    broken = kind(api_key=KEY, faults=Faults(fault, slow_s=3), first_byte_ms=5)
    healthy = kind(api_key=KEY, first_byte_ms=5)
    for emulator in (broken, healthy):
        emulators.append(await running(emulator))
    errors: list[ProviderError] = []
    options = {"transport": "ws"}
    first = config(provider, broken)
    first = ProviderConfig(
        first.provider,
        api_key=KEY,
        base_url=first.base_url,
        options=options,
        first_byte_timeout_s=1.0,
        destinations=PERMISSIVE,
    )
    tts = build_tts([first, config(provider, healthy)], lambda s, e: errors.append(e))
    expected = FAULT_ERRORS[fault]
    if fault == "disconnect":
        # audio had started when the connection dropped: the sentence is cut, not repeated
        with pytest.raises(ProviderClosed):
            await speak(tts, "Still here.", 16000, Meter())
        await tts.aclose()
        assert [type(e) for e in errors] == [expected]
        return
    samples = await speak(tts, "Still here.", 16000, Meter())
    await tts.aclose()
    assert samples == pytest.approx(len("Still here.") * 0.060 * 16000, abs=400)
    assert type(errors[-1]) is expected


async def test_aura_pieces_said_by_rest_leave_no_reference_cycle_for_the_collector(
    emulators: list[Emulator],
) -> None:
    emulator = DeepgramEmulator(api_key=KEY, first_byte_ms=1)
    emulators.append(await running(emulator))
    base = config("deepgram", emulator)
    tts = build_tts([dataclasses.replace(base, options={"transport": "rest"})])
    assert await speak(tts, "First.", 8000, Meter()) > 0  # the call's REST client, made once
    with cyclic_garbage("voicegrid.core", "voicegrid.providers", "asyncio") as left:
        for _ in range(3):
            assert await speak(tts, "Over REST.", 8000, Meter()) == said_samples("Over REST.", 8000)
    await tts.aclose()
    assert left == []


async def test_an_aura_rest_refusal_is_its_status_error_with_deepgrams_own_message(
    emulators: list[Emulator],
) -> None:
    emulator = DeepgramEmulator(api_key=KEY)
    emulators.append(await running(emulator))
    tts = AuraTts(
        dataclasses.replace(config("deepgram", emulator, key="wrong"), options={"transport": "rest"})
    )
    try:
        with pytest.raises(ProviderAuthError, match="HTTP 401: emulated 401"):
            await speak(tts, "Over REST.", 8000, Meter())
    finally:
        await tts.aclose()
    assert emulator.requests == 1


async def test_aura_falls_back_to_rest_when_the_websocket_is_refused(emulators: list[Emulator]) -> None:
    emulator = DeepgramEmulator(api_key=KEY, faults=Faults("500", count=1), first_byte_ms=5)
    emulators.append(await running(emulator))
    errors: list[ProviderError] = []
    tts = build_tts([config("deepgram", emulator)], lambda s, e: errors.append(e))
    samples = await speak(tts, "Over REST.", 8000, Meter())
    assert samples == pytest.approx(len("Over REST.") * 0.060 * 8000, abs=200)
    assert errors == []
    assert emulator.requests == 2


# ---- OpenAI-compatible LLM ---------------------------------------------------------------------
async def ask(
    llm: object, messages: list[dict[str, object]], meter: Meter, tools: list[ToolSpec] | None = None
) -> tuple[str, list[ToolCall], list[LlmUsage]]:
    text, calls, usage = [], [], []
    async for chunk in llm.stream(messages, tools or [], meter):  # type: ignore[attr-defined]
        if isinstance(chunk, TextDelta):
            text.append(chunk.text)
        elif isinstance(chunk, ToolCall):
            calls.append(chunk)
        else:
            usage.append(chunk)
    return "".join(text), calls, usage


async def test_openai_client_streams_text_tool_calls_and_usage_over_turns(emulators: list[Emulator]) -> None:
    script = [
        "We open at eleven.",
        {"text": "Transferring you.", "tools": [["transfer_call", {"to": "+15550199"}]]},
    ]
    emulator = OpenAiEmulator(api_key=KEY, first_byte_ms=10, script=script)
    emulators.append(await running(emulator))
    meter = Meter()
    llm = build_llm([config("openai", emulator, "gpt-4o-mini")])
    history: list[dict[str, object]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "When do you open?"},
    ]
    text, calls, usage = await ask(llm, history, meter)
    assert (text, calls) == ("We open at eleven.", [])
    assert usage[0].tokens_in > 0  # the last chunk carried usage
    history += [{"role": "assistant", "content": text}, {"role": "user", "content": "A person please"}]
    spec = ToolSpec("transfer_call", "to staff", {"type": "object", "properties": {"to": {"type": "string"}}})
    text, calls, _usage = await ask(llm, history, meter, [spec])
    assert text == "Transferring you."
    assert [(c.name, c.arguments) for c in calls] == [("transfer_call", '{"to": "+15550199"}')]
    assert emulator.bodies[1]["tools"][0]["function"]["name"] == "transfer_call"
    assert emulator.bodies[1]["stream_options"] == {"include_usage": True}
    line = meter.line("llm", "openai", "gpt-4o-mini")
    assert line.requests == 2
    assert line.tokens_in > 0
    assert line.tokens_out > 0


@pytest.mark.parametrize("key", ["k\r\nX-Injected: yes", "k\nX-Injected: yes", "k\x00"])
async def test_an_llm_key_that_would_add_a_header_line_is_refused_and_nothing_reaches_the_endpoint(
    emulators: list[Emulator], key: str
) -> None:
    emulator = OpenAiEmulator(api_key=KEY, script=["Never said."])
    emulators.append(await running(emulator))
    llm = build_llm([config("openai", emulator, key=key)])
    with pytest.raises(ProviderConnectError, match="bad endpoint"):
        await ask(llm, [{"role": "user", "content": "hi"}], Meter())
    assert (emulator.requests, len(emulator.connections)) == (0, 0)


async def test_openai_client_keeps_one_connection_from_turn_to_turn(emulators: list[Emulator]) -> None:
    emulator = OpenAiEmulator(api_key=KEY, script=["We open at eleven."], loop_script=True)
    emulators.append(await running(emulator))
    llm = build_llm([config("openai", emulator)])
    for _ in range(5):
        text, _calls, usage = await ask(llm, [{"role": "user", "content": "When?"}], Meter())
        assert (text, len(usage)) == ("We open at eleven.", 1)
    assert emulator.requests == 5
    assert len(emulator.connections) == 1  # read to its end, each answer gave its connection back


async def test_an_llm_turn_leaves_no_reference_cycle_for_the_collector(emulators: list[Emulator]) -> None:
    emulator = OpenAiEmulator(api_key=KEY, script=["We open at eleven."], loop_script=True)
    emulators.append(await running(emulator))
    llm = build_llm([config("openai", emulator)])
    await ask(llm, [{"role": "user", "content": "When?"}], Meter())  # the client and its pool, made once
    with cyclic_garbage("voicegrid.core", "voicegrid.providers", "asyncio", "uvloop") as left:
        for _ in range(5):
            assert (await ask(llm, [{"role": "user", "content": "When?"}], Meter()))[
                0
            ] == "We open at eleven."
    assert left == []


async def test_an_llm_server_that_goes_on_after_done_delays_the_turn_a_moment_and_loses_its_connection(
    emulators: list[Emulator],
) -> None:
    emulator = OpenAiEmulator(api_key=KEY, script=["Fine."], loop_script=True, endless_tail=True)
    emulators.append(await running(emulator))
    llm = build_llm([config("openai", emulator)])
    async with asyncio.timeout(10):  # a guard against a hang, not a measure
        for _ in range(2):
            text, _calls, usage = await ask(llm, [{"role": "user", "content": "OK?"}], Meter())
            assert (text, len(usage)) == ("Fine.", 1)
    assert len(emulator.connections) == 2  # not kept: the pool never gets a connection mid-answer


@pytest.mark.parametrize("fault", sorted(FAULT_ERRORS))
async def test_openai_client_maps_each_fault_and_the_next_provider_answers_the_turn(
    emulators: list[Emulator], fault: str
) -> None:
    broken = OpenAiEmulator(api_key=KEY, faults=Faults(fault, slow_s=3), script=["Broken answer here."])
    healthy = OpenAiEmulator(api_key=KEY, script=["From the backup."])
    for emulator in (broken, healthy):
        emulators.append(await running(emulator))
    errors: list[ProviderError] = []
    llm = build_llm([config("openai", broken), config("openai", healthy)], lambda s, e: errors.append(e))
    messages: list[dict[str, object]] = [{"role": "user", "content": "hi"}]
    if fault == "disconnect":  # the first word was already out: the reply ends, it is not repeated
        with pytest.raises(ProviderClosed):
            await ask(llm, messages, Meter())
        assert [type(e) for e in errors] == [ProviderClosed]
        return
    text, _, _ = await ask(llm, messages, Meter())
    assert text == "From the backup."
    assert [type(e) for e in errors] == [FAULT_ERRORS[fault]]
