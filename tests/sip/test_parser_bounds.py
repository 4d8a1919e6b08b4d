"""The parser is bounded and hardened: limits by constructor option, any split of a stream, fuzzing."""

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sip.conformance import RFC4475, verdicts
from voicegrid.sip import Limits, MessageTooLarge, ParseError, Request, parse_message, validate
from voicegrid.sip.framing import StreamFramer

INVITE = (
    b"INVITE sip:+15550100@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:+15551234@carrier.example>;tag=1928301774\r\n'
    b"To: <sip:+15550100@127.0.0.1>\r\n"
    b"Call-ID: a84b4c76e66710@pc33.carrier.example\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:+15551234@198.51.100.7:5060>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\n"
    b"v=0\n"
)
VALID = [p for p, v in verdicts().items() if v == "accept"]


def test_a_message_over_the_size_limit_is_refused_with_513() -> None:
    with pytest.raises(MessageTooLarge) as err:
        parse_message(INVITE, Limits(max_message_bytes=100))
    assert err.value.status == 513


def test_too_many_headers_are_refused() -> None:
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(20))
    message = INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" + extra)
    parse_message(message, Limits(max_headers=40))
    with pytest.raises(MessageTooLarge, match="more than 25 headers"):
        parse_message(message, Limits(max_headers=25))


def test_a_line_over_the_line_limit_is_refused() -> None:
    message = INVITE.replace(b"Max-Forwards: 70", b"X-Long: " + b"a" * 300)
    parse_message(message, Limits(max_line_bytes=400))
    with pytest.raises(MessageTooLarge, match="line"):
        parse_message(message, Limits(max_line_bytes=200))


def test_a_body_over_the_body_limit_is_refused() -> None:
    with pytest.raises(MessageTooLarge, match="Content-Length 4"):
        parse_message(INVITE, Limits(max_body_bytes=3))


def test_headers_over_the_header_limit_are_refused() -> None:
    with pytest.raises(MessageTooLarge, match="headers over"):
        parse_message(INVITE, Limits(max_header_bytes=100))


def test_trailing_bytes_after_the_body_are_not_part_of_the_message() -> None:
    message = parse_message(INVITE + b"garbage that follows")
    assert message.body == b"v=0\n"


def test_leading_crlf_keepalives_are_ignored() -> None:
    assert isinstance(parse_message(b"\r\n\r\n" + INVITE), Request)


@pytest.mark.parametrize("name", sorted(VALID))
def test_a_valid_message_survives_a_round_trip(name: str) -> None:
    first = parse_message((RFC4475 / name).read_bytes())
    second = parse_message(bytes(first))
    validate(second)
    assert list(second.headers) == [(n, v) for n, v in first.headers if n != "Content-Length"] + [
        ("Content-Length", str(len(first.body)))
    ]
    assert second.body == first.body
    assert bytes(second) == bytes(first)


def _stream_messages() -> list[bytes]:
    """Every valid vector re-serialised (so each has a Content-Length), as a stream would carry it."""
    return [bytes(parse_message((RFC4475 / name).read_bytes())) for name in sorted(VALID)]


def test_a_stream_framed_whole_byte_by_byte_or_all_at_once_yields_the_same_messages() -> None:
    messages = _stream_messages()
    stream = b"\r\n\r\n".join(messages)  # keep-alives between messages
    whole = [bytes(m) for m in StreamFramer().feed(stream)]
    framer = StreamFramer()
    by_byte = [bytes(m) for i in range(len(stream)) for m in framer.feed(stream[i : i + 1])]
    assert whole == by_byte == messages
    assert framer.keepalives == len(messages) - 1
    assert framer.buffered == 0


def test_a_stream_keeps_a_partial_message_until_the_rest_arrives() -> None:
    framer = StreamFramer()
    assert framer.feed(INVITE[:-2]) == []
    assert len(framer.feed(INVITE[-2:] + INVITE[:10])) == 1
    assert framer.buffered == 10


def test_a_stream_without_content_length_cannot_be_framed() -> None:
    with pytest.raises(ParseError, match="Content-Length is required"):
        StreamFramer().feed(INVITE.replace(b"Content-Length: 4\r\n", b""))


def test_a_stream_that_never_ends_its_headers_hits_the_header_limit() -> None:
    framer = StreamFramer(Limits(max_header_bytes=1000))

    def flood() -> None:
        for _ in range(100):
            framer.feed(b"X-Flood: " + b"a" * 50 + b"\r\n")

    with pytest.raises(MessageTooLarge):
        flood()


def _exercise(data: bytes) -> None:
    """Everything a UAS does with an incoming message; only ParseError may escape."""
    try:
        message = parse_message(data)
        validate(message)
        _ = (message.vias, message.from_, message.to, message.cseq, message.call_id, bytes(message))
    except ParseError:
        pass


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_raise_nothing_but_parse_error(data: bytes) -> None:
    _exercise(data)


SEEDS = [(RFC4475 / name).read_bytes() for name in sorted(verdicts())]


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(st.integers(0, 4000), st.integers(0, 255), st.sampled_from("flip insert delete cut")),
        max_size=8,
    ),
)
def test_mutated_torture_messages_raise_nothing_but_parse_error(seed: bytes, edits: list[Any]) -> None:
    data = bytearray(seed)
    for position, byte, kind in edits:
        if not data:
            break
        i = position % len(data)
        if kind == "flip":
            data[i] = byte
        elif kind == "insert":
            data.insert(i, byte)
        elif kind == "delete":
            del data[i]
        else:
            del data[i:]
    _exercise(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 50))
def test_random_streams_raise_nothing_but_parse_error(data: bytes, step: int) -> None:
    framer = StreamFramer()
    try:
        for i in range(0, len(data), step):
            framer.feed(data[i : i + step])
    except ParseError:
        pass


def _calls_to_parse(n_headers: int) -> tuple[int, int]:
    """(function calls made parsing and validating a message of n tiny headers, its size in bytes)."""
    tiny = b"".join(b"X%d: y\r\n" % i for i in range(n_headers))
    message = INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" + tiny)
    limits = Limits(max_message_bytes=1 << 20, max_header_bytes=1 << 20, max_headers=n_headers + 20)
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        calls += 1

    sys.setprofile(count)
    try:
        validate(parse_message(message, limits))
    finally:
        sys.setprofile(None)
    return calls, len(message)


def test_a_64kb_message_of_tiny_headers_parses_in_linear_steps() -> None:
    small_calls, small_size = _calls_to_parse(1000)
    big_calls, big_size = _calls_to_parse(8000)
    assert big_size >= 64_000
    # Eight times the headers may cost at most about eight times the work: no quadratic blow-up.
    assert big_calls / small_calls < 1.15 * big_size / small_size


def test_the_shared_vectors_are_present() -> None:
    assert Path(RFC4475, "verdicts.tsv").exists()


def test_a_header_name_looked_up_by_code_never_makes_a_bad_name_acceptable() -> None:
    from voicegrid.sip.headers import canonical

    canonical("Bad Name")
    with pytest.raises(ParseError, match="bad header name"):
        parse_message(INVITE.replace(b"Max-Forwards: 70", b"Bad Name: 1"))
