"""Early dialogs, and requests inside a dialog: re-INVITE (hold), INFO, OPTIONS, NOTIFY and REFER."""

import asyncio

from tests.sip.test_useragent import SDP, B, Net, _request
from voicegrid.sip import Request, Response, parse_message
from voicegrid.sip.build import response_to
from voicegrid.sip.dialog import Dialog, DialogState
from voicegrid.sip.headers import Headers
from voicegrid.sip.sdp import parse_sdp
from voicegrid.sip.useragent import Addr
from voicegrid.telephony.calls import CallControl, Decision


def test_a_ringing_response_with_a_tag_makes_an_early_dialog_that_the_200_confirms() -> None:
    net = Net()
    net.a.send(_request("INVITE", body=SDP), B, 0.0)
    net.pump()
    incoming = net.incoming("b", "INVITE")
    net.b.respond(incoming, response_to(incoming.request, 180, to_tag="E1"), 0.0)
    net.pump()
    (early,) = [o.dialog for o in net.outcomes("a", "response") if o.response and o.response.status == 180]
    assert early is not None
    assert early.state is DialogState.EARLY
    assert len(net.b.dialogs) == 1
    net.b.respond(incoming, response_to(incoming.request, 200, to_tag="E1"), 0.0)
    net.pump()
    (confirmed,) = [
        o.dialog for o in net.outcomes("a", "response") if o.response and o.response.status == 200
    ]
    assert confirmed is early
    assert early.state is DialogState.CONFIRMED


def test_a_failure_after_ringing_discards_the_early_dialog() -> None:
    net = Net()
    net.a.send(_request("INVITE", body=SDP), B, 0.0)
    net.pump()
    incoming = net.incoming("b", "INVITE")
    net.b.respond(incoming, response_to(incoming.request, 180, to_tag="E2"), 0.0)
    net.b.respond(incoming, response_to(incoming.request, 486, to_tag="E2"), 0.0)
    net.pump()
    assert net.a.dialogs == {}
    assert net.b.dialogs == {}


async def _answered_call(net: Net) -> tuple[CallControl, Dialog]:
    async def answer(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200)

    control = CallControl(net.b, answer)
    net.a.send(_request("INVITE", body=SDP), B, 0.0)
    net.pump()
    for event in net.events["b"]:
        control.on_event(event)
    await asyncio.sleep(0.01)  # the decision and the answer
    net.pump()
    dialog = next(o.dialog for o in net.outcomes("a", "response") if o.response and o.response.status == 200)
    assert dialog is not None
    return control, dialog


def _in_dialog(net: Net, control: CallControl, dialog: Dialog, method: str, body: bytes = b"") -> Response:
    extra = Headers()
    if body:
        extra.add("Content-Type", "application/sdp")
    if method == "REFER":
        extra.add("Refer-To", "<sip:+15550199@127.0.0.1>")
    if method == "NOTIFY":
        extra.add("Event", "refer")
        extra.add("Subscription-State", "terminated")
    net.events["b"].clear()
    net.a.send(dialog.new_request(method, "<sip:alice@127.0.0.1:5070>", body, extra), B, 0.0)
    net.pump()
    for event in net.events["b"]:
        control.on_event(event)
    net.pump()
    final = [o.response for o in net.outcomes("a", "response") if o.response and o.response.cseq[1] == method]
    assert final, f"no answer to {method}"
    return final[-1]


async def test_requests_inside_a_dialog_are_answered_and_refer_is_accepted() -> None:
    net = Net()
    control, dialog = await _answered_call(net)
    assert _in_dialog(net, control, dialog, "INFO").status == 200
    assert _in_dialog(net, control, dialog, "OPTIONS").status == 200
    assert _in_dialog(net, control, dialog, "NOTIFY").status == 200
    assert _in_dialog(net, control, dialog, "REFER").status == 202


async def test_a_reinvite_putting_us_on_hold_is_answered_with_our_current_sdp() -> None:
    net = Net()
    control, dialog = await _answered_call(net)
    hold = SDP + b"a=sendonly\r\n"
    response = _in_dialog(net, control, dialog, "INVITE", hold)
    assert response.status == 200
    answer = parse_sdp(response.body)
    assert answer.media[0].direction == "recvonly"
    (call,) = control.calls.values()
    assert call.media is not None
    assert call.media.on_hold


def test_an_in_dialog_request_with_an_old_cseq_gets_500() -> None:
    net = Net()
    net.a.send(_request("INVITE", body=SDP), B, 0.0)
    net.pump()
    incoming = net.incoming("b", "INVITE")
    net.b.respond(incoming, response_to(incoming.request, 200, to_tag="C1"), 0.0)
    net.pump()
    dialog = next(o.dialog for o in net.outcomes("a", "response") if o.response and o.response.status == 200)
    assert dialog is not None
    dialog.local_cseq = 0  # the next request reuses CSeq 1
    net.a.send(dialog.new_request("INFO", "<sip:alice@127.0.0.1:5070>"), B, 0.0)
    net.pump()
    statuses = [
        m.status for m in map(parse_message, net.wire) if isinstance(m, Response) and m.cseq[1] == "INFO"
    ]
    assert statuses == [500]
