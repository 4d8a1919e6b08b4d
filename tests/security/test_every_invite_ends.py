"""Class 3: every INVITE ends with a final response and gives back what it took; a live Call-ID is
no key to someone else's call; a digest credential cannot be replayed or moved."""

import asyncio
import contextlib
import os
import resource
from collections.abc import AsyncIterator

import pytest

from voicegrid.media.ports import PortAllocator
from voicegrid.sip import Request, Response, parse_message
from voicegrid.sip.auth import Challenge, DigestServer, authorization
from voicegrid.sip.build import new_branch, new_tag
from voicegrid.sip.errors import SdpError
from voicegrid.sip.headers import Headers
from voicegrid.sip.sdp import answer, parse_sdp
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.telephony.book import CallState
from voicegrid.telephony.calls import CallControl, Decision
from voicegrid.telephony.plan import CallPlan
from voicegrid.testing.ports import free_udp_and_tcp_port

GOOD_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


@pytest.mark.parametrize(
    ("sdp", "status", "reason"),
    [
        (GOOD_SDP.replace("RTP/AVP 0", "RTP/AVP 200"), 400, "0 to 127"),
        (GOOD_SDP.replace("RTP/AVP 0", "RTP/AVP 0 x1"), 400, "0 to 127"),
        (GOOD_SDP + "a=rtpmap:abc PCMU/8000\r\n", 400, "0 to 127"),
        (GOOD_SDP.replace("c=IN IP4 127.0.0.1\r\n", ""), 488, "no c= line"),
        (GOOD_SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 media.attacker.example"), 488, "not an IP"),
        (GOOD_SDP.replace("c=IN IP4 127.0.0.1", "c=IN"), 488, "unusable c="),
    ],
)
def test_an_sdp_we_cannot_use_is_refused_with_a_clear_reason(sdp: str, status: int, reason: str) -> None:
    with pytest.raises(SdpError, match=reason) as refused:
        answer(parse_sdp(sdp.encode()), local_address="127.0.0.1", local_port=5000, session_id=1, version=1)
    assert refused.value.status == status


class _Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[Response] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, Response):
            self.got.put_nowait(message)


def _invite(port: int, peer_port: int, body: str, call_id: str) -> bytes:
    headers = Headers()
    headers.add("Via", f"SIP/2.0/UDP 127.0.0.1:{peer_port};branch={new_branch()};rport")
    headers.add("Max-Forwards", "70")
    headers.add("From", f"<sip:caller@127.0.0.1>;tag={new_tag()}")
    headers.add("To", f"<sip:+15550100@127.0.0.1:{port}>")
    headers.add("Call-ID", call_id)
    headers.add("CSeq", "1 INVITE")
    headers.add("Contact", f"<sip:caller@127.0.0.1:{peer_port}>")
    headers.add("Content-Type", "application/sdp")
    return bytes(
        Request(headers=headers, body=body.encode(), method="INVITE", uri=f"sip:+15550100@127.0.0.1:{port}")
    )


async def _final(peer: _Peer) -> Response:
    async with asyncio.timeout(5):
        while (response := await peer.got.get()).status < 200:
            pass
    return response


@pytest.fixture
async def node() -> AsyncIterator[tuple[CallControl, list[str]]]:
    released: list[str] = []

    async def decide(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(
            200, plan=CallPlan(release=lambda: released.append(request.call_id), business_id="biz_t")
        )

    port = free_udp_and_tcp_port()
    control = CallControl(UserAgent(("udp", "127.0.0.1", port)), decide, ports=PortAllocator(41000, 41100))
    await control.start("127.0.0.1", port)
    try:
        yield control, released
    finally:
        await control.stop()


async def _send(control: CallControl, body: str, call_id: str) -> tuple[Response, _Peer]:
    loop = asyncio.get_running_loop()
    peer = _Peer()
    transport, _ = await loop.create_datagram_endpoint(lambda: peer, local_addr=("127.0.0.1", 0))
    peer_port = transport.get_extra_info("sockname")[1]
    transport.sendto(
        _invite(control.ua.local[2], peer_port, body, call_id), ("127.0.0.1", control.ua.local[2])
    )
    try:
        return await _final(peer), peer
    finally:
        transport.close()


async def test_an_invite_with_an_sdp_we_cannot_use_gets_a_final_response_and_gives_back_its_lease_and_port(
    node: tuple[CallControl, list[str]],
) -> None:
    control, released = node
    response, _ = await _send(
        control, GOOD_SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 nowhere.example"), "bad-sdp-1"
    )
    assert response.status == 488
    await asyncio.sleep(0.05)
    assert released == ["bad-sdp-1"]
    assert control.media.ports.in_use == 0
    assert control.calls["bad-sdp-1"].state is CallState.ENDED


async def test_an_invite_that_finds_no_descriptor_left_gets_503_and_the_node_goes_on(
    node: tuple[CallControl, list[str]],
) -> None:
    control, released = node
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    loop = asyncio.get_running_loop()
    peer = _Peer()
    transport, _ = await loop.create_datagram_endpoint(lambda: peer, local_addr=("127.0.0.1", 0))
    peer_port = transport.get_extra_info("sockname")[1]
    hogs: list[int] = []
    try:
        top = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (top + 16, hard))
        with contextlib.suppress(OSError):  # take every descriptor left: no socket can be opened now
            while len(hogs) < top + 16:
                hogs.append(os.open(os.devnull, os.O_RDONLY))
        transport.sendto(
            _invite(control.ua.local[2], peer_port, GOOD_SDP, "no-fd-1"), ("127.0.0.1", control.ua.local[2])
        )
        response = await _final(peer)
    finally:
        for fd in hogs:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        transport.close()
    assert response.status == 503
    assert released == ["no-fd-1"]
    assert control.media.ports.in_use == 0
    ok, _ = await _send(control, GOOD_SDP, "after-1")  # descriptors back: calls are taken again
    assert ok.status == 200


async def test_an_invite_reusing_a_live_call_id_cannot_touch_that_call(
    node: tuple[CallControl, list[str]],
) -> None:
    control, _released = node
    ok, _ = await _send(control, GOOD_SDP, "shared-call-id")
    assert ok.status == 200
    live = control.calls["shared-call-id"]
    intruder, _ = await _send(control, GOOD_SDP, "shared-call-id")  # another From tag, another branch
    assert intruder.status == 482
    assert control.calls["shared-call-id"] is live
    assert live.state is not CallState.ENDED


def _credential(
    server: DigestServer, uri: str, nc: int, algorithm: str = "SHA-256", at: float = 1000.0
) -> str:
    challenge = Challenge.parse(server.challenge(at, algorithm=algorithm))
    return authorization(challenge, method="INVITE", uri=uri, username="trunk", password="pw", nc=nc)


def test_a_digest_credential_cannot_be_replayed_moved_or_downgraded() -> None:
    server = DigestServer("voicegrid", b"s" * 32)
    uri = "sip:+15550100@198.51.100.1"

    def check(value: str, request_uri: str = uri, algorithms: tuple[str, ...] = ("SHA-256",)) -> bool:
        return server.verify(
            value,
            method="INVITE",
            password_for={"trunk": "pw"}.get,
            now=1001.0,
            request_uri=request_uri,
            algorithms_for=lambda _user: algorithms,
        ).ok

    first = _credential(server, uri, nc=1)
    assert check(first)
    assert not check(first)  # the same Authorization again: replay
    assert check(_credential(server, uri, nc=2))  # the client's next request on the same nonce
    challenge = Challenge.parse(first.replace("Digest ", "Digest realm=x, ", 0) and server.challenge(1000.0))
    moved = authorization(
        challenge, method="INVITE", uri="sip:+19005550000@198.51.100.1", username="trunk", password="pw"
    )
    assert not check(moved)  # a credential for another Request-URI
    md5 = _credential(server, uri, nc=1, algorithm="MD5", at=1000.2)
    assert not check(md5)  # MD5 to a SHA-256-only trunk
    assert check(md5, algorithms=("SHA-256", "MD5"))
    expired = server.verify(
        _credential(server, uri, nc=1, at=1000.3),
        method="INVITE",
        password_for={"trunk": "pw"}.get,
        now=1302.0,
    )
    assert not expired.ok
    assert expired.stale
