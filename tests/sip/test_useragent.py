"""Two user agents over an in-memory network with loss, time stepped by hand."""

from collections.abc import Callable

from voicegrid.sip import Request, Response, parse_message
from voicegrid.sip.auth import DigestServer
from voicegrid.sip.build import cancel_for, new_call_id, new_tag, response_to
from voicegrid.sip.headers import Headers
from voicegrid.sip.useragent import Addr, Event, Incoming, Outcome, UserAgent

A: Addr = ("udp", "127.0.0.1", 5070)
B: Addr = ("udp", "127.0.0.1", 5060)
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


class Net:
    """Delivers datagrams between the two agents; `drop` decides which are lost."""

    def __init__(self, drop: Callable[[bytes], bool] = lambda _: False) -> None:
        self.a = UserAgent(A)
        self.b = UserAgent(B)
        self.drop = drop
        self.now = 0.0
        self.events: dict[str, list[Event]] = {"a": [], "b": []}
        self.wire: list[bytes] = []

    def pump(self) -> None:
        for _ in range(50):
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                for data, to in src.datagrams_to_send():
                    self.wire.append(data)
                    moved = True
                    if not self.drop(data):
                        dst.receive(data, (to[0], *(A if src is self.a else B)[1:]), self.now)
            for name, ua in (("a", self.a), ("b", self.b)):
                while (event := ua.next_event()) is not None:
                    self.events[name].append(event)
            if not moved:
                return

    def run_until(self, t: float) -> None:
        while True:
            due = [x for x in (self.a.get_timer(), self.b.get_timer()) if x is not None and x <= t]
            if not due:
                break
            self.now = min(due)
            self.a.handle_timer(self.now)
            self.b.handle_timer(self.now)
            self.pump()
        self.now = t

    def incoming(self, who: str, method: str) -> Incoming:
        found = [e for e in self.events[who] if isinstance(e, Incoming) and e.request.method == method]
        assert found, f"{who} got no {method}: {self.events[who]}"
        return found[-1]

    def outcomes(self, who: str, kind: str) -> list[Outcome]:
        return [e for e in self.events[who] if isinstance(e, Outcome) and e.kind == kind]


def _request(method: str, to: str = "sip:+15550100@127.0.0.1:5060", body: bytes = b"") -> Request:
    headers = Headers()
    headers.add("Max-Forwards", "70")
    headers.add("From", f"<sip:alice@127.0.0.1:5070>;tag={new_tag()}")
    headers.add("To", f"<{to}>")
    headers.add("Call-ID", new_call_id("127.0.0.1"))
    headers.add("CSeq", f"1 {method}")
    headers.add("Contact", "<sip:alice@127.0.0.1:5070>")
    if body:
        headers.add("Content-Type", "application/sdp")
    return Request(headers=headers, body=body, method=method, uri=to)


def _statuses(wire: list[bytes], method: str) -> list[int]:
    out = []
    for data in wire:
        m = parse_message(data)
        if isinstance(m, Response) and m.cseq[1] == method:
            out.append(m.status)
    return out


def test_options_gets_200_with_allow() -> None:
    net = Net()
    net.a.send(_request("OPTIONS"), B, net.now)
    net.pump()
    response = net.outcomes("a", "response")[0].response
    assert response is not None
    assert response.status == 200
    assert "INVITE" in (response.headers.get("Allow") or "")


def test_options_say_503_while_draining() -> None:
    net = Net()
    net.b.options_status = 503
    net.a.send(_request("OPTIONS"), B, net.now)
    net.pump()
    assert _statuses(net.wire, "OPTIONS") == [503]


def test_a_request_that_parses_but_is_invalid_gets_400_with_the_reason() -> None:
    net = Net()
    bad = bytes(_request("OPTIONS")).replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    net.b.receive(b"SIP/2.0 200 OK\r\n\r\n", A, 0.0)  # junk is dropped and counted
    bad = bad.replace(
        b"Max-Forwards", b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1;rport\r\nMax-Forwards"
    )
    net.b.receive(bad, A, 0.0)
    ((data, to),) = net.b.datagrams_to_send()
    response = parse_message(data)
    assert isinstance(response, Response)
    assert response.status == 400
    assert "does not match" in response.reason
    assert to == A
    assert net.b.counters.invalid_requests == 1
    assert net.b.counters.stray_responses == 1


def _call(net: Net) -> tuple[Incoming, Request]:
    invite = _request("INVITE", body=SDP)
    net.a.send(invite, B, net.now)
    net.pump()
    incoming = net.incoming("b", "INVITE")
    return incoming, invite


def test_an_answered_call_retransmits_its_200_until_the_ack_gets_through() -> None:
    lost_acks = 0

    def drop(data: bytes) -> bool:
        nonlocal lost_acks
        if data.startswith(b"ACK") and lost_acks < 2:
            lost_acks += 1
            return True
        return False

    net = Net(drop)
    incoming, _ = _call(net)
    assert _statuses(net.wire, "INVITE") == [100]
    net.b.respond(incoming, response_to(incoming.request, 180), net.now, contact="<sip:agent@127.0.0.1:5060>")
    ok = response_to(incoming.request, 200)
    ok.body = SDP
    net.b.respond(incoming, ok, net.now, contact="<sip:agent@127.0.0.1:5060>")
    net.pump()
    (answered,) = [o for o in net.outcomes("a", "response") if o.response and o.response.status == 200]
    assert answered.dialog is not None
    net.a.ack_2xx(answered.dialog, answered.response, B, "<sip:alice@127.0.0.1:5070>")  # type: ignore[arg-type]
    net.pump()
    assert not [e for e in net.events["b"] if isinstance(e, Incoming) and e.request.method == "ACK"]
    # B resends the 200 at T1, then 2*T1 later; A's TU ACKs each 2xx once; the third ACK gets through.
    acked = {id(answered.response)}
    for t in (0.5, 1.5, 3.5):
        net.run_until(t + 0.01)
        for o in net.outcomes("a", "response"):
            if o.response and o.response.status == 200 and id(o.response) not in acked:
                acked.add(id(o.response))
                net.a.ack_2xx(answered.dialog, o.response, B, "<sip:alice@127.0.0.1:5070>")
        net.pump()
    assert net.incoming("b", "ACK").dialog is not None
    assert _statuses(net.wire, "INVITE").count(200) == 3
    net.run_until(60)
    assert _statuses(net.wire, "INVITE").count(200) == 3  # no more after the ACK
    assert not net.outcomes("b", "ack-timeout")


def test_a_bye_in_the_dialog_gets_200_and_ends_it() -> None:
    net = Net()
    incoming, _ = _call(net)
    net.b.respond(incoming, response_to(incoming.request, 200), net.now, contact="<sip:agent@127.0.0.1:5060>")
    net.pump()
    dialog = net.outcomes("a", "response")[-1].dialog
    assert dialog is not None
    bye = dialog.new_request("BYE", "<sip:alice@127.0.0.1:5070>")
    net.a.send(bye, B, net.now)
    net.pump()
    assert net.outcomes("b", "bye")
    assert _statuses(net.wire, "BYE") == [200]
    again = dialog.new_request("BYE", "<sip:alice@127.0.0.1:5070>")
    net.a.send(again, B, net.now)
    net.pump()
    assert _statuses(net.wire, "BYE") == [200, 481]


def test_cancel_while_ringing_gets_200_and_the_invite_487() -> None:
    net = Net()
    incoming, invite = _call(net)
    net.b.respond(incoming, response_to(incoming.request, 180), net.now)
    net.pump()
    net.a._out.append((bytes(cancel_for(invite)), B))  # raw, so the test sees B's answer alone
    net.pump()
    assert _statuses(net.wire, "CANCEL") == [200]
    assert _statuses(net.wire, "INVITE")[-1] == 487
    assert net.outcomes("b", "cancelled")
    assert any(d.startswith(b"ACK") for d in net.wire)  # A's transaction ACKs the 487


def test_a_challenged_invite_is_retried_once_with_credentials() -> None:
    net = Net()
    server = DigestServer("voicegrid", b"s" * 32)
    invite = _request("INVITE", body=SDP)
    net.a.send(invite, B, net.now, credentials=("carrier", "pa55word"))
    net.pump()
    first = net.incoming("b", "INVITE")
    challenge = response_to(first.request, 401, to_tag=new_tag())
    challenge.headers.add("WWW-Authenticate", server.challenge(net.now))
    net.b.respond(first, challenge, net.now)
    net.pump()
    second = [e for e in net.events["b"] if isinstance(e, Incoming) and e.request.method == "INVITE"][-1]
    assert second is not first
    value = second.request.headers.get("Authorization") or ""
    verdict = server.verify(value, method="INVITE", password_for={"carrier": "pa55word"}.get, now=net.now)
    assert verdict.ok
    assert second.request.cseq[0] == first.request.cseq[0] + 1
    assert any(d.startswith(b"ACK") for d in net.wire)  # the 401 was ACKed


def test_an_unacknowledged_200_gives_up_after_64_t1() -> None:
    net = Net(drop=lambda d: d.startswith(b"ACK"))
    incoming, _ = _call(net)
    net.b.respond(incoming, response_to(incoming.request, 200), net.now)
    net.pump()
    net.run_until(40)
    assert net.outcomes("b", "ack-timeout")


def test_a_cancel_after_the_answer_gets_200_with_the_dialogs_tag_and_changes_nothing() -> None:
    net = Net()
    incoming, invite = _call(net)
    net.b.respond(incoming, response_to(incoming.request, 200, to_tag="T1"), net.now)
    net.pump()
    net.b.receive(bytes(cancel_for(invite)), A, net.now)
    ((data, _),) = net.b.datagrams_to_send()
    response = parse_message(data)
    assert isinstance(response, Response)
    assert (response.status, response.to.tag) == (200, "T1")
    assert not net.outcomes("b", "cancelled")
    assert len(net.b.dialogs) == 1
