"""RFC 4733 events: each digit reported once, redundant ends ignored, absurd durations clamped."""

import pytest

from voicegrid.media.dtmf import MAX_DURATION_MS, DtmfReceiver, EventPayload, event_packets
from voicegrid.media.errors import RtpError


def test_a_sent_digit_is_received_once_with_its_duration() -> None:
    receiver = DtmfReceiver()
    payloads = event_packets("5", duration_ms=120)
    assert len(payloads) == 5 + 3  # 20, 40, 60, 80, 100 ms updates, then the end three times
    digits = [d for p in payloads if (d := receiver.receive(8000, p)) is not None]
    assert [(d.digit, d.duration_ms) for d in digits] == [("5", 120)]


def test_three_digits_with_their_own_timestamps_arrive_in_order() -> None:
    receiver = DtmfReceiver()
    got = []
    for n, digit in enumerate("123"):
        for payload in event_packets(digit):
            if (d := receiver.receive(1000 * n, payload)) is not None:
                got.append(d.digit)
    assert got == ["1", "2", "3"]


def test_an_absurd_duration_is_clamped() -> None:
    receiver = DtmfReceiver()
    digit = receiver.receive(0, bytes(EventPayload(9, True, 10, 65535)))
    assert digit is not None
    assert digit.duration_ms == MAX_DURATION_MS
    short = receiver.receive(160, bytes(EventPayload(1, True, 10, 1)))
    assert short is not None
    assert short.duration_ms == 40


def test_unknown_events_and_short_payloads_are_ignored_or_refused() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(0, bytes(EventPayload(99, True, 10, 800))) is None
    with pytest.raises(RtpError):
        receiver.receive(0, b"\x01")
    with pytest.raises(RtpError):
        event_packets("x")
