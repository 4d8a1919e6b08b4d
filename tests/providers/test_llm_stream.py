"""The event-stream reader under the OpenAI-format client: events whole however the bytes are cut,
and bounded against a peer that never ends a line."""

import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.endless_http import Endless
from voicegrid.core.egress import PERMISSIVE
from voicegrid.providers import registry
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.errors import ProviderClosed, ProviderError, ProviderProtocolError
from voicegrid.providers.llm.base import LlmChunk, TextDelta
from voicegrid.providers.llm.openai import (
    MAX_ANSWER_CHARS,
    OpenAiLlm,
    parse_chunk,
)
from voicegrid.providers.llm.sse import EventStream

STREAM = (
    b": keep-alive comment\r\n\r\n"
    b'data: {"a": 1}\n\n'
    b"event: message\r\nid: 7\r\ndata: first\r\ndata: second\r\n\r\n"
    b"data:no-space\r\rdata: [DONE]\n\n"
)
EVENTS = [b'{"a": 1}', b"first\nsecond", b"no-space", b"[DONE]"]


def read_all(blocks: list[bytes]) -> list[bytes]:
    stream = EventStream("openai", max_bytes=1024)
    events = [event for block in blocks for event in stream.feed(block)]
    return events + stream.close()


def test_events_are_read_with_every_line_ending_and_joined_data_fields() -> None:
    assert read_all([STREAM]) == EVENTS


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_the_same_events_come_out_however_the_bytes_are_cut(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    blocks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert read_all(blocks) == EVENTS


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_any_bytes_give_events_within_the_cap_or_a_protocol_error(blocks: list[bytes]) -> None:
    try:
        events = read_all(blocks)
    except ProviderProtocolError:
        return
    assert all(len(event) <= 1024 for event in events)


def test_a_line_that_never_ends_is_refused_at_the_cap() -> None:
    stream = EventStream("openai", max_bytes=1024)
    stream.feed(b"data: " + b"x" * 1000)
    with pytest.raises(ProviderProtocolError, match="size cap"):
        stream.feed(b"x" * 100)


def test_an_event_of_many_short_lines_is_refused_at_the_cap() -> None:
    stream = EventStream("openai", max_bytes=1024)
    with pytest.raises(ProviderProtocolError, match="size cap"):
        stream.feed(b"data: xxxxxxxxx\n" * 200)


def test_an_error_object_in_the_stream_ends_the_answer_and_a_chunk_that_is_not_json_is_refused() -> None:
    with pytest.raises(ProviderClosed, match="overloaded"):
        parse_chunk("openai", b'{"error": {"message": "overloaded", "type": "server_error"}}')
    with pytest.raises(ProviderProtocolError, match="not JSON"):
        parse_chunk("openai", b"{half")
    assert parse_chunk("openai", b'{"choices": []}') == {"choices": []}


async def test_a_call_loads_the_clients_of_its_providers_once_and_skips_names_without_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_loaded", set())
    await registry.load([("tts", "elevenlabs"), ("tts", "no-such-provider"), ("llm", "simulated")])
    assert registry.loaded() == {"voicegrid.providers.tts.elevenlabs"}
    await registry.load([("llm", "openai"), ("llm", "llama-cpp")])
    assert "voicegrid.providers.llm.openai" in registry.loaded()


def _chunk(delta: dict[str, object]) -> bytes:
    return b"data: " + orjson.dumps({"choices": [{"delta": delta}]}) + b"\n\n"


async def _ask(base_url: str) -> tuple[list[LlmChunk], ProviderError | None]:
    llm = OpenAiLlm(ProviderConfig("openai", api_key="k", base_url=base_url, destinations=PERMISSIVE))
    got: list[LlmChunk] = []
    try:
        async for item in llm.stream([{"role": "user", "content": "hi"}], [], Meter()):
            got.append(item)
    except ProviderError as exc:
        return got, exc
    return got, None


async def test_an_answer_that_never_ends_is_cut_off_at_the_cap_after_what_came_was_said() -> None:
    endless = Endless(lambda _n: _chunk({"content": "word " * 200}), most=4000)
    server = await endless.start()
    try:
        got, error = await _ask(endless.url + "/v1")
    finally:
        server.close()
    assert isinstance(error, ProviderProtocolError)
    assert "an answer over the size cap" in str(error)
    text = "".join(item.text for item in got if isinstance(item, TextDelta))
    assert MAX_ANSWER_CHARS - 1000 < len(text) <= MAX_ANSWER_CHARS
    assert endless.sent < 4000  # the connection was closed, not read on


async def test_a_tool_call_that_never_ends_or_an_index_out_of_range_is_refused() -> None:
    def growing(_n: int) -> bytes:  # one call's arguments, 1,000 characters a chunk
        return _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "x" * 1000}}]})

    def numbered(n: int) -> bytes:  # a new call each chunk
        return _chunk({"tool_calls": [{"index": n, "id": f"c{n}", "function": {"name": "f"}}]})

    for chunk, why in ((growing, "tool call over the size cap"), (numbered, "index out of")):
        endless = Endless(chunk, most=4000)
        server = await endless.start()
        try:
            got, error = await _ask(endless.url + "/v1")
        finally:
            server.close()
        assert isinstance(error, ProviderProtocolError)
        assert why in str(error)
        assert got == []  # no tool call goes out half-made
