"""Behind a SIP edge: the caller's source is the edge's word for it, and only the edge's."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.sip.test_useragent import _request
from voicegrid.sip.limits import RequestGate, RequestLimits
from voicegrid.sip.message import Request
from voicegrid.telephony.edge import EdgeTrust, parse_source
from voicegrid.telephony.errors import EdgeHeaderError

EDGE = ("udp", "10.0.0.5", 5060)
TRUST = EdgeTrust.of(["10.0.0.5"])


def _invite(*sources: str) -> Request:
    request = _request("INVITE")
    for value in sources:
        request.headers.add("X-Voicegrid-Source", value)
    return request


def test_the_edge_names_the_caller_by_transport_address_and_port() -> None:
    assert TRUST.caller(_invite("udp:198.51.100.7:5062"), EDGE) == ("udp", "198.51.100.7", 5062)
    assert TRUST.caller(_invite("TCP:2001:db8::7:5061"), EDGE) == ("tcp", "2001:db8::7", 5061)
    assert TRUST.caller(_invite("udp:[2001:db8::8]:5060"), EDGE) == ("udp", "2001:db8::8", 5060)


def test_a_caller_that_is_not_the_edge_cannot_name_its_own_source() -> None:
    stranger = ("udp", "203.0.113.66", 5060)
    assert TRUST.caller(_invite("udp:198.51.100.7:5062"), stranger) == stranger
    assert EdgeTrust().caller(_invite("udp:198.51.100.7:5062"), EDGE) == EDGE  # no edge configured


@pytest.mark.parametrize(
    "values",
    [
        (),  # the edge always says
        ("udp:198.51.100.7:5062", "udp:198.51.100.8:5062"),  # two callers: which?
        ("udp:example.com:5060",),
        ("udp:198.51.100.7",),
        ("udp:198.51.100.7:0",),
        ("udp:198.51.100.7:70000",),
        ("carrier-pigeon:198.51.100.7:5060",),
        ("udp:198.51.100.7:5060\r\nX-Evil: 1",),
        ("udp:" + "1" * 100 + ":5060",),
    ],
)
def test_the_edge_saying_nothing_believable_refuses_the_call(values: tuple[str, ...]) -> None:
    request = _request("INVITE")
    for value in values:
        request.headers._items.append(("X-Voicegrid-Source", value))  # as parsed off the wire
    with pytest.raises(EdgeHeaderError):
        TRUST.caller(request, EDGE)


@given(st.text(max_size=120))
def test_any_header_value_is_a_source_or_an_edge_header_error(value: str) -> None:
    try:
        transport, address, port = parse_source(value)
    except EdgeHeaderError:
        return
    assert transport in {"udp", "tcp", "tls", "sctp", "ws", "wss"}
    assert 0 < port < 65536
    assert address.strip() == address
    assert "\n" not in address


def test_an_edge_is_held_only_by_the_total_request_rate_not_the_per_source_one() -> None:
    gate = RequestGate(RequestLimits(per_source_per_s=1, total_per_s=1000, edges=frozenset({"10.0.0.5"})))
    assert all(gate.allow("10.0.0.5", 0.0, "INVITE") for _ in range(100))
    assert [gate.allow("203.0.113.66", 0.0, "INVITE") for _ in range(3)] == [True, True, False]


def test_edge_addresses_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        EdgeTrust.of(["10.0.0.0/8"])
