"""Where a SIP endpoint listens: a port asked for, or any port free for both UDP and TCP."""

import asyncio
import socket
from typing import Any

import pytest

from voicegrid.sip.useragent import UserAgent
from voicegrid.telephony.errors import TransportError
from voicegrid.telephony.sip_transport import SipEndpoint


def _endpoint() -> SipEndpoint:
    return SipEndpoint(UserAgent(("udp", "127.0.0.1", 0)), lambda event: None)


async def test_any_port_whose_number_is_taken_for_tcp_is_passed_over_for_one_free_for_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the kernel's first UDP pick is a port another socket holds for TCP (as an outgoing connection
    # of any process may): the endpoint gives it back and listens on another, on both transports
    tcp_holder = socket.socket()
    tcp_holder.bind(("127.0.0.1", 0))
    taken = tcp_holder.getsockname()[1]
    loop = asyncio.get_running_loop()
    real = loop.create_datagram_endpoint
    picks: list[Any] = []

    async def first_pick_taken(factory: Any, **kwargs: Any) -> Any:
        if not picks:  # the first UDP bind lands on the TCP-held number
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", taken))
            kwargs = {"sock": udp}
        picks.append(kwargs)
        return await real(factory, **kwargs)

    monkeypatch.setattr(loop, "create_datagram_endpoint", first_pick_taken)
    endpoint = _endpoint()
    try:
        await endpoint.start("127.0.0.1", 0)
        # the first pick passed over; the kernel's next one is free for both, or, when a parallel
        # test's connection happens to hold its TCP number too, a later one
        assert len(picks) >= 2
        assert endpoint.port not in (0, taken)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError, match="in use"):
            udp.bind(("127.0.0.1", endpoint.port))  # ours, for UDP
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=2):
            pass  # and for TCP
        await asyncio.sleep(0)  # a transport closes its socket on the loop's next turn
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", taken))  # the passed-over UDP port was given back
    finally:
        await endpoint.stop()
        tcp_holder.close()


async def test_a_port_asked_for_and_taken_is_an_error_naming_it_not_another_port() -> None:
    with socket.socket() as tcp_holder:
        tcp_holder.bind(("127.0.0.1", 0))
        taken = tcp_holder.getsockname()[1]
        endpoint = _endpoint()
        with pytest.raises(TransportError, match=f"127.0.0.1:{taken}"):
            await endpoint.start("127.0.0.1", taken)
        await endpoint.stop()
        await asyncio.sleep(0)  # a transport closes its socket on the loop's next turn
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", taken))  # its UDP half was not kept
