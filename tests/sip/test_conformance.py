"""RFC 4475 torture messages: every verdict in verdicts.tsv, and the values each valid message holds."""

import hashlib
from collections.abc import Callable

import pytest

from tests.sip.conformance import RFC4475, verdicts
from voicegrid.sip import AbsoluteUri, Message, ParseError, Request, Response, SipUri, parse_message, validate
from voicegrid.sip.uri import parse_uri

VERDICTS = verdicts()


def test_the_vectors_are_the_49_rfc_messages_byte_for_byte() -> None:
    sums = {}
    for line in (RFC4475 / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.lstrip("*")] = digest
    assert len(VERDICTS) == 49
    for name in VERDICTS:
        assert hashlib.sha256((RFC4475 / name).read_bytes()).hexdigest() == sums[name], name


def _outcome(name: str) -> Message | ParseError:
    try:
        message = parse_message((RFC4475 / name).read_bytes())
        validate(message)
    except ParseError as exc:
        return exc
    return message


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_each_message_gets_its_expected_verdict(name: str) -> None:
    outcome = _outcome(name)
    verdict = VERDICTS[name]
    if verdict == "accept":
        assert not isinstance(outcome, ParseError), f"{name} rejected: {outcome}"
    elif verdict == "reject":
        assert isinstance(outcome, ParseError), f"{name} accepted"
        assert outcome.reason
        assert 400 <= outcome.status <= 599


EXPECTED_STATUS = {
    "badvers.dat": 505,
    "clerr.dat": 400,
    "ncl.dat": 400,
    "mismatch01.dat": 400,
    "insuf.dat": 400,
}


@pytest.mark.parametrize(("name", "status"), sorted(EXPECTED_STATUS.items()))
def test_rejections_carry_the_status_the_element_should_answer(name: str, status: int) -> None:
    outcome = _outcome(name)
    assert isinstance(outcome, ParseError)
    assert outcome.status == status


REASONS = {
    "badvers.dat": "version",
    "clerr.dat": "Content-Length 9999",
    "ncl.dat": "-999",
    "mcl01.dat": "conflicting Content-Length",
    "scalar02.dat": "CSeq",
    "scalarlg.dat": "CSeq",
    "mismatch01.dat": "does not match",
    "bigcode.dat": "status code",
    "insuf.dat": "missing",
    "multi01.dat": "more than one",
    "badinv01.dat": "Via",
}


@pytest.mark.parametrize(("name", "words"), sorted(REASONS.items()))
def test_each_rejection_names_its_fault(name: str, words: str) -> None:
    outcome = _outcome(name)
    assert isinstance(outcome, ParseError)
    assert words in outcome.reason


def _req(m: Message) -> Request:
    assert isinstance(m, Request)
    return m


def _sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


FIELDS: dict[str, Callable[[Message], None]] = {}


def fields(name: str) -> Callable[[Callable[[Message], None]], Callable[[Message], None]]:
    def register(check: Callable[[Message], None]) -> Callable[[Message], None]:
        FIELDS[name] = check
        return check

    return register


@fields("wsinv.dat")
def _wsinv(m: Message) -> None:
    assert m.to.tag == "1918181833n"
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.from_.tag == "98asjd8"
    assert m.headers.get("Max-Forwards") == "0068"
    assert m.cseq == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert len(m.body) == 150


@fields("intmeth.dat")
def _intmeth(m: Message) -> None:
    r = _req(m)
    assert r.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    uri = _sip(r.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert (
        m.from_.params["fromparam''~+*_!.-%"]
        == '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"'
    )


@fields("esc01.dat")
def _esc01(m: Message) -> None:
    assert _sip(_req(m).uri).user == "sips%3Auser%40example.com"


@fields("escnull.dat")
def _escnull(m: Message) -> None:
    contacts = m.headers.values("Contact")
    assert len(contacts) == 2
    assert m.to.uri.user == "null-%00-null"  # type: ignore[union-attr]


@fields("esc02.dat")
def _esc02(m: Message) -> None:
    assert _req(m).method == "RE%47IST%45R"
    assert len(m.headers.values("Contact")) == 2
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


@fields("lwsdisp.dat")
def _lwsdisp(m: Message) -> None:
    assert m.from_.display_name == "caller"


@fields("longreq.dat")
def _longreq(m: Message) -> None:
    assert len(m.vias) == 34
    assert m.to.display_name is not None
    assert "extremeextreme" in m.to.display_name
    assert isinstance(m.to.uri, SipUri)
    assert m.to.uri.port == 6000
    assert len(m.to.uri.params) == 3
    assert (m.from_.tag or "").startswith("12982982982982982982982982982982")
    assert len(m.call_id) > 100


@fields("dblreq.dat")
def _dblreq(m: Message) -> None:
    assert _req(m).method == "REGISTER"
    assert m.body == b""


@fields("semiuri.dat")
def _semiuri(m: Message) -> None:
    uri = _sip(_req(m).uri)
    assert uri.user == "user;par=u%40example.net"
    assert uri.host == "example.com"


@fields("transports.dat")
def _transports(m: Message) -> None:
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


@fields("mpart01.dat")
def _mpart01(m: Message) -> None:
    assert len(m.body) == 553
    assert b"\x00" in m.body


@fields("unreason.dat")
def _unreason(m: Message) -> None:
    assert isinstance(m, Response)
    assert m.status == 200
    assert m.reason.startswith("= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e")


@fields("noreason.dat")
def _noreason(m: Message) -> None:
    assert isinstance(m, Response)
    assert (m.status, m.reason) == (100, "")


@fields("unkscm.dat")
def _unkscm(m: Message) -> None:
    assert parse_uri(_req(m).uri) == AbsoluteUri("nobodyknowsthisscheme", "totallyopaquecontent")


@fields("novelsc.dat")
def _novelsc(m: Message) -> None:
    uri = parse_uri(_req(m).uri)
    assert isinstance(uri, AbsoluteUri)
    assert uri.scheme == "soap.beep"


@fields("inv2543.dat")
def _inv2543(m: Message) -> None:
    assert m.top_via.branch is None
    assert not m.top_via.rfc3261_branch
    assert m.from_.tag is None
    assert "Max-Forwards" not in m.headers
    assert m.body.startswith(b"v=0")


@fields("badbranch.dat")
def _badbranch(m: Message) -> None:
    assert m.top_via.branch == "z9hG4bK"
    assert not m.top_via.rfc3261_branch


@fields("zeromf.dat")
def _zeromf(m: Message) -> None:
    assert m.headers.get("Max-Forwards") == "0"


@fields("regescrt.dat")
def _regescrt(m: Message) -> None:
    contact = m.headers.values("Contact")[0]
    assert "?Route=%3Csip:sip.example.com%3E" in contact


@fields("cparam01.dat")
def _cparam01(m: Message) -> None:
    from voicegrid.sip import parse_address

    contact = parse_address(m.headers.values("Contact")[0], "Contact")
    assert "unknownparam" in contact.params


@fields("cparam02.dat")
def _cparam02(m: Message) -> None:
    from voicegrid.sip import parse_address

    contact = parse_address(m.headers.values("Contact")[0], "Contact")
    assert isinstance(contact.uri, SipUri)
    assert "unknownparam" in contact.uri.params


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_valid_messages_yield_the_right_values(name: str) -> None:
    outcome = _outcome(name)
    assert not isinstance(outcome, ParseError), outcome
    FIELDS[name](outcome)


def test_fields_are_checked_for_a_good_share_of_the_valid_messages() -> None:
    accepted = [n for n, v in VERDICTS.items() if v == "accept"]
    assert len(set(FIELDS) & set(accepted)) >= 20
