"""SDP parse/serialize and offer/answer: codec choice, telephone-event, hold, and 488."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicegrid.sip.errors import SdpError
from voicegrid.sip.sdp import answer, offer, parse_sdp

CARRIER_OFFER = (
    b"v=0\r\no=- 3812638232 3812638232 IN IP4 198.51.100.7\r\ns=Carrier\r\nc=IN IP4 198.51.100.7\r\n"
    b"t=0 0\r\nm=audio 31000 RTP/AVP 0 8 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
    b"a=sendrecv\r\nm=video 31002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
)


def _answer(data: bytes, preferences: tuple[str, ...] = ("G722", "PCMU", "PCMA")):  # type: ignore[no-untyped-def]
    return answer(
        parse_sdp(data),
        local_address="127.0.0.1",
        local_port=40000,
        session_id=7,
        version=1,
        preferences=preferences,
    )


def test_the_agents_first_preference_wins_when_the_offer_has_it() -> None:
    body, negotiated = _answer(CARRIER_OFFER)
    assert negotiated.codec.name == "G722"
    assert negotiated.codec.sample_rate == 16000
    assert (negotiated.remote_address, negotiated.remote_port) == ("198.51.100.7", 31000)
    assert negotiated.telephone_event == 101
    audio, video = parse_sdp(bytes(body)).media
    assert audio.formats == ["9", "101"]
    assert audio.port == 40000
    assert audio.attribute("ptime") == "20"
    assert audio.direction == "sendrecv"
    assert video.port == 0  # a stream we do not take is refused, not dropped


def test_a_pcmu_only_agent_answers_pcmu() -> None:
    _, negotiated = _answer(CARRIER_OFFER, ("PCMU",))
    assert (negotiated.codec.name, negotiated.payload_type) == ("PCMU", 0)


def test_static_payload_types_need_no_rtpmap() -> None:
    _, negotiated = _answer(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
    )
    assert negotiated.codec.name == "PCMA"
    assert negotiated.telephone_event is None


def test_an_offer_with_no_common_codec_is_488() -> None:
    data = CARRIER_OFFER.replace(b"RTP/AVP 0 8 9 101", b"RTP/AVP 18 101").replace(
        b"a=rtpmap:0", b"a=rtpmap:18 G729/8000\r\na=x:0"
    )
    with pytest.raises(SdpError) as err:
        _answer(data)
    assert err.value.status == 488


@pytest.mark.parametrize(
    ("offered", "answered", "on_hold"),
    [("sendrecv", "sendrecv", False), ("sendonly", "recvonly", True), ("inactive", "inactive", True)],
)
def test_hold_in_a_reinvite_is_mirrored(offered: str, answered: str, on_hold: bool) -> None:
    body, negotiated = _answer(CARRIER_OFFER.replace(b"a=sendrecv", f"a={offered}".encode()))
    assert parse_sdp(bytes(body)).media[0].direction == answered
    assert negotiated.on_hold is on_hold


def test_our_offer_lists_the_preferences_in_order_and_answers_itself() -> None:
    ours = offer(local_address="127.0.0.1", local_port=40000, session_id=1, version=1)
    assert ours.media[0].formats == ["9", "0", "8", "101"]
    _, negotiated = answer(
        parse_sdp(bytes(ours)), local_address="127.0.0.1", local_port=1, session_id=2, version=1
    )
    assert negotiated.codec.name == "G722"


@pytest.mark.parametrize(
    "data", [b"", b"v=1\r\n", b"v=0\r\nm=audio x RTP/AVP 0\r\n", b"\xff\xfe", b"v=0\r\nbad\r\n"]
)
def test_malformed_sdp_is_a_400_sdp_error(data: bytes) -> None:
    with pytest.raises(SdpError) as err:
        parse_sdp(data)
    assert err.value.status == 400


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_random_sdp_raises_nothing_but_sdp_error(data: bytes) -> None:
    with contextlib.suppress(SdpError):
        _answer(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n" + data)
