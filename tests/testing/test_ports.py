"""The ports the tests give their real peers: outside the kernel's ephemeral range, free, never twice."""

import socket

from voicegrid.testing.ports import free_port_block, free_udp_and_tcp_port


def test_a_sip_port_is_below_the_ephemeral_range_free_for_udp_and_tcp_and_never_given_twice() -> None:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    given = [free_udp_and_tcp_port() for _ in range(50)]
    assert len(set(given)) == 50
    assert max(given) < ephemeral_low
    for port in given[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", port))
            tcp.bind(("127.0.0.1", port))


def test_a_single_port_is_never_one_of_a_block_given_before_and_a_block_of_400_is_found() -> None:
    blocks = [free_port_block(400), *(free_port_block(4) for _ in range(10))]
    taken = {port for base in blocks[1:] for port in range(base, base + 4)}
    taken |= set(range(blocks[0], blocks[0] + 400))
    for _ in range(20):
        assert free_udp_and_tcp_port() not in taken
    assert free_port_block(400)  # singles given before do not stand in a large block's way


def test_a_block_never_overlaps_one_given_just_before_whose_taker_may_not_have_bound_it_yet() -> None:
    """A test gives voicegrid a block for its RTP and then SIPp a block for its media, both probed
    free before either binds: the second must not fall over the first."""
    for _ in range(30):
        ours, sipps = free_port_block(2), free_port_block(4)
        assert not set(range(ours, ours + 2)) & set(range(sipps, sipps + 4))
    small = [free_port_block(4) for _ in range(40)]
    spans = [set(range(b, b + 4)) for b in small]
    assert all(not (a & b) for i, a in enumerate(spans) for b in spans[i + 1 :])


def test_a_span_of_ports_is_free_for_udp_and_tcp_and_none_of_it_is_given_again() -> None:
    port = free_udp_and_tcp_port(span=2)  # baresip: SIP on the port, SIP over TLS on the next
    for p in (port, port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", p))
            tcp.bind(("127.0.0.1", p))
    assert not {port, port + 1} & {free_udp_and_tcp_port() for _ in range(40)}
