"""The call book: ended calls stay a minute (and no more than its cap), and an ended call that has
been recorded lets go of what carried it, keeping what the API shows."""

from voicegrid.sip.dialog import Dialog
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.book import Call, CallBook, CallState, EndedConversation


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Conversation:
    """A voice agent's conversation as the call sees it, still live."""

    def __init__(self) -> None:
        self.said = [{"speaker": "caller", "text": "are you open tonight"}]
        self.released = False

    def summary(self) -> dict[str, object]:
        return {"transcript": list(self.said), "usage": [], "turns": []}

    async def wait_closed(self) -> None:
        return None

    async def reserve_stt(self) -> None:
        return None

    async def unreserve_stt(self) -> None:
        return None

    def release(self) -> None:
        self.released = True


def _call(number: int) -> Call:
    return Call(f"call_{number}", "inbound", f"{number}@test", state=CallState.UP, business_id="biz_1")


def test_an_ended_call_is_forgotten_a_minute_after_it_ended_and_a_live_one_never() -> None:
    clock = Clock()
    book = CallBook(keep_ended_s=60, clock=clock)
    live, ended = _call(1), _call(2)
    book.keep(live)
    book.keep(ended)
    book.finish(ended, "remote", "completed")
    clock.now += 59
    assert book.keep(_call(3)) == []
    assert set(book.by_id) == {"call_1", "call_2", "call_3"}
    clock.now += 2
    assert book.keep(_call(4)) == [ended]
    assert set(book.by_id) == {"call_1", "call_3", "call_4"}
    clock.now += 3600
    assert book.forget_ended() == []  # live calls stay, however long
    assert set(book.by_id) == {"call_1", "call_3", "call_4"}


def test_past_its_cap_the_book_forgets_the_earliest_ended_calls_first() -> None:
    book = CallBook(max_kept=3, keep_ended_s=60, clock=Clock())
    calls = [_call(n) for n in range(5)]
    for call in calls[:3]:
        book.keep(call)
    book.finish(calls[2], "remote", None)  # ended first
    book.finish(calls[0], "remote", None)
    assert book.keep(calls[3]) == [calls[2]]
    assert book.keep(calls[4]) == [calls[0]]
    assert set(book.by_id) == {"call_1", "call_3", "call_4"}  # the live ones, over the cap if need be
    assert book.keep(_call(5)) == []
    assert len(book.by_id) == 4


def test_a_settled_call_keeps_what_the_api_shows_and_lets_go_of_what_carried_it() -> None:
    book = CallBook()
    call = _call(1)
    conversation = Conversation()
    call.conversation, call.agent = conversation, EchoAgent()
    call.dialog = Dialog("1@test", "a", "b", "sip:a@127.0.0.1", "sip:b@127.0.0.1", "sip:b@127.0.0.1")
    call.metadata, call.media_summary = {"order": "42"}, {"packets_received": 500.0}
    book.keep(call)

    call.settle()  # still live: nothing is let go
    assert call.agent is not None
    assert not conversation.released
    assert call.conversation is conversation

    book.finish(call, "remote", "completed")
    shown = call.summary()
    call.settle()
    assert (call.agent, call.dialog, call.leg, call.incoming, call.media) == (None, None, None, None, None)
    assert isinstance(call.conversation, EndedConversation)
    assert conversation.released  # and the pipeline let go of what it held
    conversation.said.append({"speaker": "agent", "text": "changed after the end"})
    assert call.summary() == shown  # what the call said, as it was when it ended
    assert (call.metadata, call.media_summary, call.outcome) == (
        {"order": "42"},
        {"packets_received": 500.0},
        "completed",
    )
    call.settle()  # twice is harmless
    assert call.summary() == shown
