"""Registration refreshes before expiry and backs off after failures, stepped by the caller's clock."""

from voicegrid.sip import Response
from voicegrid.sip.build import response_to
from voicegrid.sip.registration import Registration, refresh_after


def _reg() -> Registration:
    return Registration(
        "sip:carrier.example", "sip:+15550100@carrier.example", "<sip:vg@127.0.0.1:5060>", 3600
    )


def _ok(request, contact_expires: str | None = None, header: str | None = None) -> Response:  # type: ignore[no-untyped-def]
    response = response_to(request, 200, to_tag="r1")
    if contact_expires is not None:
        response.headers.add("Contact", f"<sip:vg@127.0.0.1:5060>;expires={contact_expires}")
        response.headers.add("Contact", "<sip:other@10.0.0.9>;expires=9")
    if header is not None:
        response.headers.add("Expires", header)
    return response


def test_the_register_carries_aor_contact_expires_and_a_rising_cseq() -> None:
    reg = _reg()
    first, second = reg.request(0.0), reg.request(1.0)
    assert first.method == "REGISTER"
    assert first.uri == "sip:carrier.example"
    assert first.headers.get("Expires") == "3600"
    assert first.headers.get("Contact") == "<sip:vg@127.0.0.1:5060>"
    assert (first.cseq[0], second.cseq[0]) == (1, 2)
    assert first.call_id == second.call_id


def test_the_granted_expiry_of_our_own_contact_sets_the_refresh() -> None:
    reg = _reg()
    reg.on_response(_ok(reg.request(100.0), contact_expires="600"), 100.0)
    assert reg.state == "registered"
    assert reg.expires_at == 700.0
    assert reg.get_timer() == 100.0 + 480.0  # 80% of 600 s


def test_the_expires_header_counts_when_the_contact_has_none() -> None:
    reg = _reg()
    reg.on_response(_ok(reg.request(0.0), header="60"), 0.0)
    assert reg.get_timer() == 30.0


def test_refresh_margins_for_short_and_long_grants() -> None:
    assert refresh_after(2) == 1.0
    assert refresh_after(60) == 30.0
    assert refresh_after(3600) == 2880.0


def test_failures_back_off_and_a_lapsed_registration_is_failed() -> None:
    reg = _reg()
    reg.on_response(response_to(reg.request(0.0), 503), 0.0)
    assert (reg.state, reg.get_timer()) == ("failed", 30.0)
    reg.on_timeout(30.0)
    assert reg.get_timer() == 30.0 + 60.0
    reg.on_response(_ok(reg.request(90.0), header="3600"), 90.0)
    assert (reg.state, reg.failures) == ("registered", 0)


def test_interval_too_brief_asks_again_with_the_minimum() -> None:
    reg = _reg()
    too_brief = response_to(reg.request(0.0), 423)
    too_brief.headers.add("Min-Expires", "7200")
    reg.on_response(too_brief, 0.0)
    assert reg.get_timer() == 0.0
    assert reg.request(0.0).headers.get("Expires") == "7200"
