"""RTP ports are held from the moment they are offered: another process cannot take a port that is in
our SDP, ports another process holds are skipped, and a call that ends before its media gives its
sockets back."""

import socket

from voicegrid.media.ports import PortAllocator
from voicegrid.telephony.book import Call
from voicegrid.telephony.call_media import CallMedia
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.testing.ports import free_port_block


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_an_offered_port_pair_is_held_until_the_call_ends_and_others_ports_are_skipped() -> None:
    low = free_port_block(22)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", low))  # another process holds the first port of the range
    media = CallMedia(PortAllocator(low, low + 20), MediaClock())
    try:
        port = media.free_port("127.0.0.1")
        assert port != low
        assert not _bindable(port)  # held: nobody else can take what our SDP names
        assert not _bindable(port + 1)
        call = Call("call_x", "inbound", "cid", rtp_port=port)
        media.close(call)  # the call ended before its media started
        assert _bindable(port)
        assert _bindable(port + 1)
        assert media.ports.in_use == 0
    finally:
        taken.close()
