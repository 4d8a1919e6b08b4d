"""The call book: an ended call that has been recorded lets go of what carried it, keeping what the
API shows."""

from voicegrid.sip.dialog import Dialog
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.book import Call, CallBook, CallState, EndedConversation


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
