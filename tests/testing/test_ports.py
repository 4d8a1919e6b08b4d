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


def test_a_port_block_never_overlaps_a_port_given_before() -> None:
    singles = {free_udp_and_tcp_port() for _ in range(20)}  # as a test's peers take them, within the memory
    for _ in range(20):
        base = free_port_block(4)
        assert not singles & set(range(base, base + 4))
