"""A transfer to a number goes to the call's peer, which routes numbers; a SIP URI is kept."""

from voicegrid.telephony.targets import transfer_target


def _call(dest: tuple[str, str, int] | None) -> tuple[str, str, int] | None:
    return dest  # the call's peer is all a transfer target needs of it


def test_a_number_is_sent_to_the_carrier_that_brought_the_call() -> None:
    assert (
        transfer_target("+1 555 019 9", _call(("udp", "198.51.100.7", 5060))) == "sip:+15550199@198.51.100.7"
    )
    assert (
        transfer_target("+15550199", _call(("udp", "198.51.100.7", 5080)))
        == "sip:+15550199@198.51.100.7:5080"
    )
    assert transfer_target("+15550199", _call(("udp", "2001:db8::7", 5060))) == "sip:+15550199@[2001:db8::7]"


def test_a_sip_uri_is_kept_and_a_call_without_a_peer_gets_a_tel_uri() -> None:
    assert (
        transfer_target("sip:desk@pbx.example", _call(("udp", "198.51.100.7", 5060)))
        == "sip:desk@pbx.example"
    )
    assert transfer_target("+15550199", _call(None)) == "tel:+15550199"
