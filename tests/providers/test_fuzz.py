"""Bounded, fuzzed parsers of the provider boundary: what a vendor or engine sends never crashes us."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicegrid.pipeline.sentences import SentenceSplitter
from voicegrid.providers.base import Usage
from voicegrid.providers.errors import ProviderError
from voicegrid.providers.llm.base import LlmUsage, TextDelta
from voicegrid.providers.llm.openai import read_chunk
from voicegrid.providers.stt.deepgram import DeepgramStream
from voicegrid.providers.tts.espeak import parse_wav

JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_the_wav_reader_returns_samples_or_a_value_error_for_any_bytes(data: bytes) -> None:
    for blob in (data, b"RIFF\x00\x00\x00\x00WAVE" + data):
        try:
            rate, pcm = parse_wav(blob)
        except ValueError:
            continue
        assert rate >= 0
        assert len(pcm) <= len(blob) // 2


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"type": st.sampled_from(["Results", "TurnInfo", "Error"])},
            optional={"channel": JSON, "event": JSON, "transcript": JSON, "is_final": JSON},
        ),
    )
)
def test_any_deepgram_message_is_a_transcript_nothing_or_a_protocol_error(message: object) -> None:
    stream = DeepgramStream("deepgram", 16000, Usage("stt", "deepgram", None), ws=None, flux=False)  # type: ignore[arg-type]
    try:
        stream._handle(json.dumps(message))
    except ProviderError:
        return
    while not stream._events.empty():
        item = stream._events.get_nowait()
        assert item is None or isinstance(getattr(item, "text", None), str)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=30))
def test_the_sentence_splitter_loses_no_word_whatever_the_stream(deltas: list[str]) -> None:
    splitter = SentenceSplitter()
    pieces = [p for d in deltas for p in splitter.push(d)] + splitter.flush()
    assert "".join("".join(pieces).split()) == "".join("".join(deltas).split())
    assert all(p == p.strip() and p for p in pieces)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {},
            optional={
                "choices": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "delta": st.fixed_dictionaries(
                                {}, optional={"content": JSON, "tool_calls": st.lists(JSON, max_size=3)}
                            )
                            | JSON
                        },
                    )
                    | JSON,
                    max_size=3,
                )
                | JSON,
                "usage": st.fixed_dictionaries(
                    {},
                    optional={
                        "prompt_tokens": JSON,
                        "completion_tokens": JSON,
                        "prompt_tokens_details": JSON,
                    },
                )
                | JSON,
            },
        ),
    )
)
def test_any_openai_stream_chunk_is_text_usage_tool_pieces_or_a_protocol_error(chunk: object) -> None:
    assert_chunk_read_or_refused(chunk)


def test_chunks_with_an_infinite_count_or_a_non_text_content_are_protocol_errors() -> None:
    for chunk in (
        {"usage": {"prompt_tokens": float("inf")}},
        {"choices": [{"delta": {"content": {"text": "hi"}}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": "first"}]}}]},
        ["not", "an", "object"],
    ):
        with pytest.raises(ProviderError):
            read_chunk("openai", chunk)
    assert read_chunk("openai", {"choices": [{"delta": {"content": "Hi"}}]}) == [TextDelta("Hi")]


def assert_chunk_read_or_refused(chunk: object) -> None:
    try:
        items = read_chunk("openai", chunk)
    except ProviderError:
        return
    for item in items:
        if isinstance(item, TextDelta):
            assert isinstance(item.text, str)
        elif isinstance(item, LlmUsage):
            assert isinstance(item.tokens_in, int)
        else:
            index, call_id, name, arguments = item
            assert isinstance(index, int)
            assert all(isinstance(v, str) for v in (call_id, name, arguments))
