"""The jitter buffer on a stepped clock: order, duplicates, lateness, loss, wrap, adaptation, bounds."""

import random

from voicegrid.media.jitter import Frame, JitterBuffer
from voicegrid.media.rtp import RtpPacket


def _packet(seq: int) -> RtpPacket:
    return RtpPacket(0, seq % 65536, (seq * 160) % 2**32, 1, bytes([seq % 256]) * 160)


def _run(arrivals: list[tuple[float, int]], ticks: int, jb: JitterBuffer | None = None) -> list[Frame]:
    """Deliver (time, seq) arrivals and pop every 20 ms from t=0; return the frames played."""
    jb = jb or JitterBuffer()
    pending = sorted(arrivals)
    frames: list[Frame] = []
    for tick in range(ticks):
        now = tick * 0.02
        while pending and pending[0][0] <= now:
            arrived, seq = pending.pop(0)
            jb.push(_packet(seq), arrived)
        frame = jb.pop(now)
        if frame is not None:
            frames.append(frame)
    return frames


def test_a_steady_stream_plays_every_frame_in_order_after_the_initial_delay() -> None:
    frames = _run([(i * 0.02, 1000 + i) for i in range(100)], 110)
    played = [f.sequence for f in frames if not f.lost]
    assert played[:97] == list(range(1000, 1097))
    assert not any(f.lost for f in frames[:97])


def test_reordered_packets_play_in_sequence() -> None:
    arrivals = []
    for i in range(0, 60, 2):
        arrivals += [(i * 0.02, i + 1), (i * 0.02 + 0.001, i)]  # each pair arrives swapped
    frames = _run(arrivals, 70)
    played = [f.sequence for f in frames if not f.lost]
    assert played == sorted(played)
    assert played[:50] == list(range(50))


def test_duplicates_and_late_packets_are_dropped_and_counted() -> None:
    jb = JitterBuffer(initial_delay_ms=40)
    arrivals = [(i * 0.02, i) for i in range(30)] + [(0.30, 5), (0.301, 20)]  # 5 is late, 20 a duplicate
    _run(arrivals, 40, jb)
    assert jb.counters.late == 1
    assert jb.counters.duplicates == 1


def test_a_lost_packet_is_concealed_and_the_stream_goes_on() -> None:
    frames = _run([(i * 0.02, i) for i in range(40) if i != 10], 45)
    by_seq = {f.sequence: f for f in frames}
    assert by_seq[10].lost
    assert not by_seq[9].lost
    assert not by_seq[11].lost


def test_sequence_numbers_that_wrap_keep_their_order() -> None:
    frames = _run([(i * 0.02, 65530 + i) for i in range(20)], 25)
    played = [f.sequence for f in frames if not f.lost]
    assert played == list(range(65530, 65530 + len(played)))
    assert played[-1] >= 65536


def test_the_target_delay_grows_with_jitter_and_loss_stays_low() -> None:
    rng = random.Random(3)
    jb = JitterBuffer(initial_delay_ms=20)
    arrivals = [(i * 0.02 + rng.uniform(0, 0.06), i) for i in range(500)]
    frames = _run(arrivals, 520, jb)
    assert jb.target_ms > 40
    lost = sum(f.lost for f in frames[50:480])
    assert lost / 430 < 0.05


def test_the_buffer_holds_a_bounded_number_of_packets() -> None:
    jb = JitterBuffer(max_packets=10)
    for i in range(100):
        jb.push(_packet(i), 0.0)
    assert len(jb._packets) == 10
    assert jb.counters.overflow == 90
