"""Outbound calls waiting in the queue when the node stops: each ends as `drained`, is never dialled,
and reaches the call's end listeners (the records) like any call."""

from voicegrid.capacity.leases import Refusal
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.sip.message import Request
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.store.models import Agent, Business
from voicegrid.telephony.admission import Admission
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.calls import CallControl, Decision, DialPlan
from voicegrid.telephony.service import CallRequest, CallService, _Outbound


async def _refuse(request: Request, source: Addr, call_id: str) -> Decision:
    return Decision(503)


async def test_queued_calls_end_as_drained_and_undialled_when_the_node_stops() -> None:
    control = CallControl(UserAgent(("udp", "127.0.0.1", 5060)), _refuse)  # never started: no SIP goes out
    ended: list[Call] = []
    control.book.ended_listeners.append(ended.append)
    service = CallService(control, None, None, admission=Admission(MemoryBackend()))  # type: ignore[arg-type]
    full = Business(id="biz_q", reseller_id="res_q", name="Full", max_concurrent_calls=0)
    plan = DialPlan(
        "sip:+15557770000@carrier.example", ("udp", "127.0.0.1", 5099), "sip:+1555@x", None, "trk_q"
    )
    agent = Agent(id="agt_q", business_id="biz_q", name="a")
    out = _Outbound(full, None, agent, plan, CallRequest("agt_q", "+15557770000", queue_deadline_s=60))
    refusal = Refusal("business max_concurrent_calls=0", 5)
    waiting = [service._enqueue(out, refusal) for _ in range(2)]
    assert [c.state for c in waiting] == [CallState.QUEUED, CallState.QUEUED]
    assert await service.drain_queue() == 2
    assert [(c.state, c.outcome, c.ended_by) for c in waiting] == [(CallState.ENDED, "drained", "local")] * 2
    assert ended == waiting  # the records hear of them
    assert control.book.by_id == {}  # nothing was dialled
    assert await service.drain_queue() == 0
    await control.stop()
