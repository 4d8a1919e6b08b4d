"""HTTP/1.1 requests and responses, sans-I/O: framing, keep-alive, bounds, and the request check."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicegrid.core.egress import Target
from voicegrid.core.errors import HttpClosed, HttpError, HttpProtocolError, HttpRequestRefused
from voicegrid.core.http1 import END, MAX_HEAD_READS, Event, Head, ResponseParser, request_bytes

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"6;ext=1\r\ndata: \r\n"
    b"0b\r\nhello world\r\n"
    b"0\r\nX-Trailer: yes\r\n\r\n"
)


def parse(data: bytes, step: int = 0, head_request: bool = False) -> tuple[ResponseParser, list[Event]]:
    parser = ResponseParser(head_request=head_request)
    events: list[Event] = []
    if step:
        for i in range(0, len(data), step):
            events += parser.feed(data[i : i + step])
    else:
        events += parser.feed(data)
    return parser, events


def body(events: list[Event]) -> bytes:
    return b"".join(e for e in events if isinstance(e, bytes))


@pytest.mark.parametrize("step", [0, 1, 2, 7])
def test_a_chunked_body_comes_whole_however_the_bytes_are_split(step: int) -> None:
    parser, events = parse(CHUNKED, step)
    assert isinstance(events[0], Head)
    assert events[0].status == 200
    assert events[0].get("content-type") == "text/event-stream"
    assert body(events) == b"data: hello world"
    assert events[-1] is END
    assert parser.keep_alive


@pytest.mark.parametrize("step", [0, 1, 5])
def test_a_content_length_body_ends_at_its_length_and_keeps_the_connection(step: int) -> None:
    parser, events = parse(b"HTTP/1.1 429 Too Many\r\nContent-Length: 5\r\n\r\nslow!", step)
    assert [events[0], body(events), events[-1]] == [Head(429, (("content-length", "5"),)), b"slow!", END]
    assert parser.keep_alive


def test_a_body_without_length_or_chunks_ends_when_the_server_closes_and_the_connection_is_not_kept() -> None:
    parser, events = parse(b"HTTP/1.1 200 OK\r\n\r\nall of it")
    assert body(events) == b"all of it"
    assert END not in events
    assert parser.eof() == [END]
    assert not parser.keep_alive


def test_a_body_cut_off_by_the_close_is_an_error_not_an_end() -> None:
    parser, _ = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    with pytest.raises(HttpClosed):
        parser.eof()
    chunked, _ = parse(CHUNKED[:-10])
    with pytest.raises(HttpClosed):
        chunked.eof()


@pytest.mark.parametrize(
    ("head", "head_request"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", False),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", True),
    ],
)
def test_204_304_and_a_head_request_have_no_body(head: bytes, head_request: bool) -> None:
    parser, events = parse(head, head_request=head_request)
    assert events[-1] is END
    assert parser.done
    assert parser.keep_alive


def test_interim_heads_are_skipped_and_a_switch_of_protocols_is_refused() -> None:
    _, events = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert [type(e) for e in events] == [Head, type(END)]
    assert events[0].status == 200
    with pytest.raises(HttpProtocolError):
        parse(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    with pytest.raises(HttpProtocolError):
        parse(b"HTTP/1.1 100 Continue\r\n\r\n" * 9)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n",  # bytes after the end
    ],
)
def test_a_connection_that_must_not_carry_another_request_is_not_kept(head: bytes) -> None:
    parser, events = parse(head)
    assert events[-1] is END
    assert not parser.keep_alive


@pytest.mark.parametrize(
    "data",
    [
        b"SIP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 129 + b"\r\n",
    ],
)
def test_a_response_that_breaks_the_grammar_is_an_error(data: bytes) -> None:
    with pytest.raises(HttpProtocolError):
        parse(data)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000,  # a head that never ends
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000,  # a size line
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + b"a" * 70_000,  # trailers
    ],
)
def test_what_a_server_never_ends_is_refused_at_its_cap_not_held(data: bytes) -> None:
    with pytest.raises(HttpProtocolError):
        parse(data, step=1000)


@pytest.mark.parametrize(
    "before",
    [b"", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"],  # the head, or the trailers
)
def test_a_section_trickled_a_byte_a_read_is_refused_after_the_cap_on_reads(before: bytes) -> None:
    """Each read searches what is buffered again: one-byte reads of a 64 KiB head cost a second."""
    section = b"HTTP/1.1 200 OK\r\n" if not before else b""
    section += b"X-Pad: " + b"a" * (MAX_HEAD_READS + 10) + b"\r\n\r\n"
    parser = ResponseParser()
    parser.feed(before)
    reads = MAX_HEAD_READS - (1 if before else 0)  # the head's one read counts: the cap is a response's
    for i in range(reads):
        parser.feed(section[i : i + 1])
    with pytest.raises(HttpProtocolError, match=f"more than {MAX_HEAD_READS} reads"):
        parser.feed(section[reads : reads + 1])


def test_a_head_in_a_few_reads_of_any_size_is_read() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 60_000 + b"\r\nContent-Length: 2\r\n\r\nok"
    _, events = parse(head, step=len(head) // MAX_HEAD_READS + 1)
    assert events[-2:] == [b"ok", END]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=40), st.sampled_from([b"", CHUNKED[:60]]))
def test_any_bytes_in_any_split_give_events_or_an_http_error_and_nothing_else(
    data: bytes, step: int, prefix: bytes
) -> None:
    parser = ResponseParser()
    try:
        for i in range(0, len(prefix + data), step):
            for event in parser.feed((prefix + data)[i : i + step]):
                assert isinstance(event, Head | bytes) or event is END
        parser.eof()
    except HttpError:
        pass


def test_a_request_carries_host_length_and_its_headers() -> None:
    data = request_bytes(
        "POST", "/v1/chat/completions?x=1", "api.example.com", {"Authorization": "Bearer k"}, b"{}"
    )
    assert data == (
        b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 2\r\n"
        b"Authorization: Bearer k\r\n\r\n{}"
    )


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/v1 /x", {}),
        ("/v1\r\nX: y", {}),
        ("/v1/é", {}),
        ("v1", {}),
        ("/v1", {"Authorization": "Bearer k\r\nX-Injected: yes"}),
        ("/v1", {"Authorization": "Bearer k\nX: y"}),
        ("/v1", {"Bad Name": "x"}),
        ("/v1", {"X-Key": "kéy\u20ac"}),
        ("/v1", {"Content-Length": "0"}),
        ("/v1", {"Host": "elsewhere.example"}),
    ],
)
def test_a_target_or_header_a_tenant_could_bend_into_another_line_is_refused(
    target: str, headers: dict[str, str]
) -> None:
    with pytest.raises(HttpRequestRefused):
        request_bytes("POST", target, "api.example.com", headers, b"")


@pytest.mark.parametrize(
    ("target", "authority"),
    [
        (Target("https", "api.example.com", 443, "203.0.113.7"), "api.example.com"),
        (Target("http", "api.example.com", 8080, "203.0.113.7"), "api.example.com:8080"),
        (Target("wss", "2001:db8::1", 443, "2001:db8::1"), "[2001:db8::1]"),
        (Target("ws", "2001:db8::1", 8080, "2001:db8::1"), "[2001:db8::1]:8080"),
    ],
)
def test_the_host_header_names_the_host_brackets_an_ipv6_literal_and_omits_the_schemes_own_port(
    target: Target, authority: str
) -> None:
    assert target.authority == authority
