"""IPv6 references, route sets (loose and strict), and where responses are sent (§18.2.2, RFC 3581)."""

from tests.sip.test_useragent import SDP, _request
from voicegrid.sip import Request, Response, SipUri, parse_message, parse_uri, parse_via
from voicegrid.sip.build import response_to
from voicegrid.sip.dialog import Dialog
from voicegrid.sip.useragent import UserAgent


def test_ipv6_references_parse_in_uris_and_vias() -> None:
    uri = parse_uri("sip:alice@[2001:db8::10]:5070;transport=tcp")
    assert isinstance(uri, SipUri)
    assert (uri.host, uri.port, uri.params["transport"]) == ("[2001:db8::10]", 5070, "tcp")
    assert uri.host_port == ("2001:db8::10", 5070)
    via = parse_via("SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKv6;received=2001:db8::9")
    assert (via.host, via.port, via.params["received"]) == ("[2001:db8::9]", 5060, "2001:db8::9")


def _dialog_with_routes(*routes: str) -> Dialog:
    invite = _request("INVITE", body=SDP)
    ok = response_to(invite, 200, to_tag="r1")
    ok.headers.add("Contact", "<sip:bob@192.0.2.50:5080>")
    for route in routes:
        ok.headers.add("Record-Route", route)
    return Dialog.as_uac(invite, ok)


def test_a_loose_route_set_becomes_route_headers_in_reverse_record_route_order() -> None:
    dialog = _dialog_with_routes("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    bye = dialog.new_request("BYE", "<sip:alice@127.0.0.1>")
    assert bye.uri == "sip:bob@192.0.2.50:5080"
    assert bye.headers.values("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    next_hop = dialog.next_hop()
    assert next_hop is not None
    assert next_hop.host == "p1.example.com"
    assert bye.cseq == (2, "BYE")


def test_a_strict_router_becomes_the_request_uri_and_the_target_goes_last() -> None:
    dialog = _dialog_with_routes("<sip:strict.example.com>")
    bye = dialog.new_request("BYE", "<sip:alice@127.0.0.1>")
    assert bye.uri == "sip:strict.example.com"
    assert bye.headers.values("Route") == ["<sip:bob@192.0.2.50:5080>"]


def _reply_target(via: str) -> tuple[str, str, int]:
    ua = UserAgent(("udp", "127.0.0.1", 5060))
    request = _request("OPTIONS")
    request.headers.prepend("Via", via)
    ua.receive(bytes(request), ("udp", "203.0.113.5", 40123), 0.0)
    ((data, to),) = ua.datagrams_to_send()
    assert isinstance(parse_message(data), Response)
    return to


def test_responses_go_to_the_source_port_when_rport_is_asked_else_to_the_via_port() -> None:
    assert _reply_target("SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKa;rport") == ("udp", "203.0.113.5", 40123)
    assert _reply_target("SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKb") == ("udp", "203.0.113.5", 5062)
    assert _reply_target("SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKc") == ("udp", "203.0.113.5", 5060)


def test_a_request_without_a_usable_via_is_dropped_not_answered() -> None:
    ua = UserAgent(("udp", "127.0.0.1", 5060))
    request = _request("OPTIONS")
    assert isinstance(request, Request)
    ua.receive(bytes(request), ("udp", "203.0.113.5", 40123), 0.0)  # no Via at all
    assert ua.datagrams_to_send() == []


def test_an_answer_to_an_invite_carries_the_proxies_record_route_in_order_and_nothing_else_does() -> None:
    invite = _request("INVITE", body=SDP)
    invite.headers.add("Record-Route", "<sip:edge2.example.com;lr>")
    invite.headers.add("Record-Route", "<sip:edge1.example.com;lr;ftag=x>")
    routes = ["<sip:edge2.example.com;lr>", "<sip:edge1.example.com;lr;ftag=x>"]
    assert response_to(invite, 180, to_tag="t").headers.values("Record-Route") == routes
    assert response_to(invite, 200, to_tag="t").headers.values("Record-Route") == routes
    assert response_to(invite, 100).headers.values("Record-Route") == []
    assert response_to(invite, 486, to_tag="t").headers.values("Record-Route") == []
    # and the dialog the answer makes sends its requests through them, nearest first
    dialog = Dialog.as_uas(invite, "t")
    assert dialog.new_request("BYE", "<sip:bob@127.0.0.1>").headers.values("Route") == routes
