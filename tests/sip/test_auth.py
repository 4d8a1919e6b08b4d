"""Digest authentication against published vectors, and the server's nonce handling."""

import pytest

from voicegrid.sip.auth import Challenge, DigestServer, authorization, digest_response, parse_auth_params
from voicegrid.sip.errors import AuthError


def test_md5_with_qop_auth_matches_rfc_2617() -> None:
    response = digest_response(
        algorithm="MD5",
        username="Mufasa",
        realm="testrealm@host.com",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_md5_without_qop_matches_rfc_2069() -> None:
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = authorization(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa", password="CircleOfLife"
    )
    _, params = parse_auth_params(value)
    assert params["response"] == "1949323746fe6a43ef61f9606e7febea"
    assert params["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert "qop" not in params


def test_sha_256_without_qop_matches_curls_rfc_7616_test() -> None:
    challenge = Challenge.parse('Digest realm="testrealm", nonce="1053604145", algorithm="SHA-256"')
    value = authorization(challenge, method="GET", uri="/2061", username="testuser", password="testpass")
    assert parse_auth_params(value)[1]["response"] == (
        "9dc55255f1a2537b838311674b621d45346b862a81631bb20e4ce356ef25062d"
    )


def test_a_challenge_round_trips_and_unknown_algorithms_are_refused() -> None:
    text = 'Digest realm="voicegrid", nonce="abc", algorithm=SHA-256, qop="auth,auth-int", stale=true'
    challenge = Challenge.parse(text)
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.stale
    assert Challenge.parse(str(challenge)) == challenge
    with pytest.raises(AuthError):
        Challenge.parse('Digest realm="r", nonce="n", algorithm=SHA-512-256-sess')
    with pytest.raises(AuthError):
        Challenge.parse('Basic realm="r"')


SERVER = DigestServer("voicegrid", b"k" * 32, nonce_ttl=300)


def _answer(challenge: str, password: str, method: str = "INVITE") -> str:
    return authorization(
        Challenge.parse(challenge),
        method=method,
        uri="sip:+15550100@127.0.0.1",
        username="carrier",
        password=password,
    )


def test_the_server_accepts_the_right_password_for_its_own_fresh_nonce() -> None:
    verdict = SERVER.verify(
        _answer(SERVER.challenge(1000.0), "s3cret"),
        method="INVITE",
        password_for={"carrier": "s3cret"}.get,
        now=1010.0,
    )
    assert verdict.ok
    assert verdict.username == "carrier"


def test_the_server_refuses_a_wrong_password_an_unknown_user_and_another_method() -> None:
    challenge = SERVER.challenge(1000.0)
    lookup = {"carrier": "s3cret"}.get
    assert not SERVER.verify(_answer(challenge, "guess"), method="INVITE", password_for=lookup, now=1001).ok
    assert not SERVER.verify(_answer(challenge, "s3cret"), method="BYE", password_for=lookup, now=1001).ok
    assert not SERVER.verify(_answer(challenge, "s3cret"), method="INVITE", password_for={}.get, now=1001).ok


def test_an_expired_nonce_with_the_right_password_is_stale_not_wrong() -> None:
    verdict = SERVER.verify(
        _answer(SERVER.challenge(1000.0), "s3cret"),
        method="INVITE",
        password_for={"carrier": "s3cret"}.get,
        now=1400.0,
    )
    assert not verdict.ok
    assert verdict.stale
    assert "stale=true" in SERVER.challenge(1400.0, stale=True)


def test_a_nonce_from_another_server_or_tampered_is_refused() -> None:
    other = DigestServer("voicegrid", b"x" * 32)
    verdict = SERVER.verify(
        _answer(other.challenge(1000.0), "s3cret"),
        method="INVITE",
        password_for={"carrier": "s3cret"}.get,
        now=1001,
    )
    assert not verdict.ok
    assert verdict.reason == "nonce not issued here"
    assert not SERVER.verify("Digest garbage", method="INVITE", password_for={}.get, now=1).ok
