"""Transactions driven by stepping a number for the clock, with packet loss; no sleeping."""

import pytest

from voicegrid.sip import Request, Response, parse_message
from voicegrid.sip.build import ack_for, response_to
from voicegrid.sip.errors import TransactionError
from voicegrid.sip.transaction import ClientTransaction, ServerTransaction, State, Timers

INVITE = parse_message(
    b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc123\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@127.0.0.1>;tag=a1\r\n"
    b"To: <sip:bob@127.0.0.1>\r\n"
    b"Call-ID: tx-test@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)
OPTIONS = parse_message(bytes(INVITE).replace(b"INVITE", b"OPTIONS"))
assert isinstance(INVITE, Request)
assert isinstance(OPTIONS, Request)
T = Timers()


def _sent_times(tx: ClientTransaction | ServerTransaction, until: float, step: float = 0.01) -> list[float]:
    """Step the clock to `until`; return the times at which the transaction put bytes on the wire."""
    times = []
    now = 0.0
    while now <= until and not tx.terminated:
        tx.handle_timer(now)
        if tx.outbox:
            times += [round(now, 2)] * len(tx.outbox)
            tx.outbox.clear()
        now = round(now + step, 2)
    return times


def test_an_unanswered_invite_over_udp_is_retransmitted_at_t1_doubling_then_times_out_at_64_t1() -> None:
    tx = ClientTransaction.start(INVITE, 0.0, reliable=False)
    tx.outbox.clear()
    times = _sent_times(tx, 40.0)
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # A = 0.5, 1, 2, 4, 8, 16 s
    assert tx.terminated
    assert [e.kind for e in tx.events] == ["timeout", "terminated"]
    assert tx.events[0].transaction is tx


def test_an_invite_over_tcp_is_never_retransmitted() -> None:
    tx = ClientTransaction.start(INVITE, 0.0, reliable=True)
    tx.outbox.clear()
    assert _sent_times(tx, 40.0) == []
    assert [e.kind for e in tx.events] == ["timeout", "terminated"]


def test_a_non_invite_request_backs_off_to_t2_and_stays_there() -> None:
    tx = ClientTransaction.start(OPTIONS, 0.0, reliable=False)
    tx.outbox.clear()
    times = _sent_times(tx, 40.0)
    # E = 0.5, 1, 2, 4, 4, 4 ... until F = 32 s
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert times[-1] == 31.5
    assert tx.events[-2].kind == "timeout"


def test_a_provisional_response_stops_invite_retransmissions() -> None:
    tx = ClientTransaction.start(INVITE, 0.0, reliable=False)
    tx.receive(response_to(INVITE, 180, to_tag="b1"), 0.2)
    assert tx.state is State.PROCEEDING
    tx.outbox.clear()
    assert _sent_times(tx, 60.0) == []
    assert not tx.terminated  # a ringing call waits for the user, not for timer B


def test_a_non_2xx_final_is_acked_by_the_transaction_and_retransmissions_are_acked_again() -> None:
    tx = ClientTransaction.start(INVITE, 0.0, reliable=False, on_ack=lambda r: ack_for(INVITE, r))
    tx.outbox.clear()
    busy = response_to(INVITE, 486, to_tag="b1")
    tx.receive(busy, 0.1)
    assert tx.state is State.COMPLETED
    ack = parse_message(tx.outbox.pop())
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.top_via.branch == "z9hG4bKabc123"
    assert ack.to.tag == "b1"
    tx.receive(busy, 0.6)  # the 486 again: our ACK was lost
    assert len(tx.outbox) == 1
    assert [e.kind for e in tx.events] == ["response"]
    tx.handle_timer(32.05)
    assert not tx.terminated
    tx.handle_timer(32.1)
    assert tx.terminated


def test_2xx_to_invite_is_passed_up_each_time_until_timer_m() -> None:
    tx = ClientTransaction.start(INVITE, 0.0, reliable=False)
    ok = response_to(INVITE, 200, to_tag="b1")
    tx.receive(ok, 0.1)
    tx.receive(ok, 0.6)
    assert [e.kind for e in tx.events] == ["response", "response"]
    assert tx.state is State.ACCEPTED
    tx.handle_timer(0.1 + 64 * T.t1)
    assert tx.terminated


def test_a_server_invite_transaction_retransmits_its_failure_until_the_ack_with_loss() -> None:
    tx = ServerTransaction.start(INVITE, 0.0, reliable=False)
    tx.respond(response_to(INVITE, 100), 0.0)
    tx.receive(INVITE, 0.3)  # retransmitted INVITE: the last response again
    assert len(tx.outbox) == 2
    tx.outbox.clear()
    tx.respond(response_to(INVITE, 486, to_tag="x"), 1.0)
    tx.outbox.clear()
    # G = 0.5, 1, 2, 4, 4 ...: the first two copies are lost, the ACK comes after the third.
    now = 1.0
    sent = []
    while now < 5.0:
        tx.handle_timer(now)
        if tx.outbox:
            sent.append(round(now, 2))
            tx.outbox.clear()
        now = round(now + 0.01, 2)
    assert sent == [1.5, 2.5, 4.5]
    ack = ack_for(INVITE, response_to(INVITE, 486, to_tag="x"))
    tx.receive(ack, 5.0)
    assert tx.state is State.CONFIRMED
    tx.handle_timer(5.0 + T.t4)
    assert tx.terminated


def test_a_failure_never_acked_times_out_at_64_t1() -> None:
    tx = ServerTransaction.start(INVITE, 0.0, reliable=False)
    tx.respond(response_to(INVITE, 480, to_tag="x"), 0.0)
    for now in range(1, 40):
        tx.handle_timer(float(now))
    assert [e.kind for e in tx.events] == ["timeout", "terminated"]


def test_a_server_transaction_refuses_a_second_final_response() -> None:
    tx = ServerTransaction.start(OPTIONS, 0.0, reliable=False)
    tx.respond(response_to(OPTIONS, 200), 0.0)
    with pytest.raises(TransactionError, match="completed"):
        tx.respond(response_to(OPTIONS, 500), 0.1)


def test_a_non_invite_server_transaction_answers_retransmissions_with_its_final_response() -> None:
    tx = ServerTransaction.start(OPTIONS, 0.0, reliable=False)
    tx.receive(OPTIONS, 0.1)
    assert tx.outbox == []  # nothing to repeat yet
    tx.respond(response_to(OPTIONS, 200), 0.2)
    tx.receive(OPTIONS, 0.7)
    assert len(tx.outbox) == 2
    assert tx.outbox[0] == tx.outbox[1]
    tx.handle_timer(0.2 + 64 * T.t1)
    assert tx.terminated


def test_over_tcp_a_completed_server_transaction_ends_at_once() -> None:
    tx = ServerTransaction.start(OPTIONS, 0.0, reliable=True)
    tx.respond(response_to(OPTIONS, 200), 0.0)
    tx.handle_timer(0.0)
    assert tx.terminated


def test_the_response_copies_via_from_to_call_id_cseq_and_adds_one_to_tag() -> None:
    response = response_to(INVITE, 200, to_tag="t9")
    assert isinstance(response, Response)
    for name in ("Via", "From", "Call-ID", "CSeq"):
        assert response.headers.get(name) == INVITE.headers.get(name)
    assert response.to.tag == "t9"
    assert response_to(INVITE, 100, to_tag="t9").to.tag is None  # 100 Trying carries no tag
