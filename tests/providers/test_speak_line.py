"""The order of the pieces on one Aura socket, without a socket."""

import asyncio

from voicegrid.providers.tts.speak_line import FLUSHES_PER_WINDOW, SpeakLine


async def test_pieces_read_in_ticket_order_and_one_given_up_before_its_turn_is_skipped() -> None:
    line = SpeakLine()
    first, second, third = (line.take(0.0) for _ in range(3))
    assert (first, second, third) == (0, 1, 2)
    read: list[int] = []

    async def piece(ticket: int) -> None:
        await line.turn(ticket)
        read.append(ticket)
        line.finish(ticket, leftover=False)

    waiting_third = asyncio.create_task(piece(2))
    waiting_second = asyncio.create_task(piece(1))
    await asyncio.sleep(0)
    waiting_second.cancel()  # given up before its turn, its text never sent
    await asyncio.sleep(0)
    line.finish(1, leftover=False)
    assert read == []
    await piece(0)
    await waiting_third
    assert read == [0, 2]
    assert line.valid(2)


def test_a_piece_given_up_with_audio_to_come_voids_those_sent_after_it_not_before() -> None:
    line = SpeakLine()
    assert [line.take(0.0) for _ in range(3)] == [0, 1, 2]
    assert all(line.may_send_early(t) for t in (0, 1, 2))
    line.finish(1, leftover=True)
    assert line.valid(0)
    assert not line.valid(1)
    assert not line.valid(2)
    assert line.must_clear()


def test_pieces_ticketed_while_the_socket_waits_to_be_cleared_are_held_in_order_until_one_sends() -> None:
    line = SpeakLine()
    line.void_outstanding()  # a barge-in
    held, behind = line.take(0.0), line.take(0.0)
    assert held is not None
    assert behind is not None
    assert not line.may_send_early(held)
    assert not line.may_send_early(behind)  # its text may not pass the held one's
    line.sent(held)  # at its turn, after the clear
    assert not line.must_clear()
    later = line.take(0.0)
    assert later is not None
    assert not line.may_send_early(later)  # still behind the other held one
    line.sent(behind)
    line.finish(later, leftover=False)  # given up before its turn, nothing sent
    latest = line.take(0.0)
    assert latest is not None
    assert line.may_send_early(latest)


def test_the_twenty_first_flush_within_a_minute_gets_no_ticket_and_one_a_minute_later_does() -> None:
    line = SpeakLine()
    for i in range(FLUSHES_PER_WINDOW):
        assert line.take(i * 1.0) == i
    assert line.take(30.0) is None
    assert line.take(59.9) is None
    assert line.take(60.0) == FLUSHES_PER_WINDOW  # the first flush left the window
    assert line.take(60.5) is None
