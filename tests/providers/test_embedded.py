"""The embedded engines: pocketsphinx with a domain model, espeak-ng, and the knowledge-base agent."""

import struct

import numpy as np
import pytest

from voicegrid.providers.base import Meter, ProviderConfig, Usage
from voicegrid.providers.llm.base import TextDelta, ToolCall, ToolSpec
from voicegrid.providers.llm.knowledge_base import FALLBACK, GOODBYE_TEXT, KnowledgeBaseLlm
from voicegrid.providers.stt.pocketsphinx import PocketsphinxStream, PocketsphinxStt
from voicegrid.providers.tts.espeak import EspeakTts, parse_wav

FAQ = {
    "faq": [
        {"question": "When are you open?", "answer": "Every day 11 to 10.", "keywords": ["open", "hours"]},
        {
            "question": "Can I talk to a person?",
            "answer": "Transferring.",
            "keywords": ["person"],
            "tool": "transfer_call",
        },
    ],
    "phrases": ["are you open at nine pm"],
}


async def speech(text: str, rate: int) -> np.ndarray:
    tts = EspeakTts(ProviderConfig("espeak-ng"))
    return np.concatenate([c async for c in tts.synthesize(text, rate, Meter())])


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_pocketsphinx_with_the_agents_phrases_recognises_a_caller_over_wideband_and_narrowband(
    rate: int, tmp_path: object
) -> None:
    stt = PocketsphinxStt(
        ProviderConfig(
            "pocketsphinx",
            options={"phrases": ["are you open at nine pm", "do you deliver"], "model_dir": str(tmp_path)},
        )
    )
    stream = await stt.open(rate, "en-US", Meter())
    audio = np.concatenate(
        [np.zeros(rate // 5, np.int16), await speech("do you deliver", rate), np.zeros(rate // 2, np.int16)]
    )
    frame = rate // 50
    for i in range(0, len(audio) - frame + 1, frame):
        await stream.send(audio[i : i + frame].tobytes())
    await stream.finalize()
    while (item := await stream.recv()) is not None and not item.is_final:
        pass
    assert item is not None
    assert item.text == "do you deliver"
    await stream.aclose()


async def test_pocketsphinx_finalize_with_nothing_buffered_is_harmless(tmp_path: object) -> None:
    stt = PocketsphinxStt(
        ProviderConfig("pocketsphinx", options={"phrases": ["hello"], "model_dir": str(tmp_path)})
    )
    stream = await stt.open(16000, "en-US", Meter())
    await stream.finalize()  # before any speech
    loud = (3000 * np.sin(np.arange(3200) / 3)).astype(np.int16)
    for i in range(0, len(loud), 320):
        await stream.send(loud[i : i + 320].tobytes())
    await stream.finalize()
    await stream.finalize()  # twice: the second has nothing left
    item = await stream.recv()
    assert item is not None
    assert item.is_final
    await stream.aclose()
    assert await stream.recv() is None  # nothing more came of the empty finalizes


def test_the_wav_reader_takes_espeaks_pipe_output_and_refuses_what_is_not_wav() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 22050, 44100, 2, 16)
    header = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00" + fmt
    rate, pcm = parse_wav(header + b"data\xff\xff\xff\x7f" + b"\x01\x00\x02\x00\x03")
    assert rate == 22050
    assert pcm.tolist() == [1, 2]
    for bad in (b"", b"RIFF", b"RIFF\x00\x00\x00\x00WAVE", header[:30], header + b"LIST\xff\xff\xff\x7f"):
        with pytest.raises(ValueError, match=r"RIFF|fmt|data"):
            parse_wav(bad)


async def reply(llm: KnowledgeBaseLlm, said: str, tools: list[ToolSpec]) -> tuple[str, list[str]]:
    text, calls = [], []
    async for chunk in llm.stream([{"role": "user", "content": said}], tools, Meter()):
        if isinstance(chunk, TextDelta):
            text.append(chunk.text)
        elif isinstance(chunk, ToolCall):
            calls.append(chunk.name)
    return "".join(text), calls


@pytest.mark.parametrize(
    ("said", "answer", "tools"),
    [
        ("are you open at nine pm", "Every day 11 to 10.", []),
        ("are you opened tonight", "Every day 11 to 10.", []),  # a misheard word still matches
        ("can i talk to a person", "Transferring.", ["transfer_call"]),
        ("thank you bye", GOODBYE_TEXT, ["end_call"]),
        ("hours you bye", GOODBYE_TEXT, ["end_call"]),  # one keyword, then goodbye: leaving
        ("what hours are you open bye", "Every day 11 to 10.", []),  # asked, then goodbye: answered
        ("purple elephants", FALLBACK, []),
    ],
)
async def test_the_knowledge_base_agent_answers_tolerantly_and_calls_its_tools(
    said: str, answer: str, tools: list[str]
) -> None:
    llm = KnowledgeBaseLlm(ProviderConfig("knowledge-base", options={"knowledge_base": FAQ}))
    specs = [ToolSpec("transfer_call"), ToolSpec("end_call")]
    assert await reply(llm, said, specs) == (answer, tools)


def test_numbers_in_an_agents_phrases_become_the_words_a_tts_says() -> None:
    from voicegrid.providers.stt.pocketsphinx import spell_numbers

    assert spell_numbers("open 11 am to 10 pm").split() == ["open", "eleven", "am", "to", "ten", "pm"]
    assert spell_numbers("105 and 42").split() == ["one", "hundred", "five", "and", "forty", "two"]
    assert spell_numbers("2026").split() == ["two", "zero", "two", "six"]


async def test_pocketsphinx_starts_an_utterance_at_the_same_sample_whatever_the_chunk_size() -> None:
    rate = 8000
    quiet = np.zeros(rate, dtype=np.int16)  # 1 s
    tone = (8000 * np.sin(np.arange(rate // 2) * 2 * np.pi * 440 / rate)).astype(np.int16)
    audio = np.concatenate([quiet, quiet[:70], tone, quiet[:800]]).tobytes()  # speech starts mid-frame
    buffered = []
    for chunk_ms in (20, 100, 250):
        stream = PocketsphinxStream("pocketsphinx", rate, Usage("stt", "pocketsphinx", None), decoder=None)
        size = rate * 2 * chunk_ms // 1000
        for at in range(0, len(audio), size):
            await stream._send(audio[at : at + size])
        buffered.append(b"".join(stream._pending))
    assert buffered[0] == buffered[1] == buffered[2]
    kept_before = len(buffered[0]) - (len(audio) - 2 * rate)  # the loud frame starts at 1 s
    assert kept_before == int(rate * 0.3) * 2  # 300 ms of audio before the first loud frame
