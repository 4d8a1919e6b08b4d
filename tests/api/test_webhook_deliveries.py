"""A business reads its call events' delivery log (what this node still has to send, what it gave up,
and why) and sends them again once its endpoint is mended."""

import asyncio

from tests.api.conftest import World
from tests.support.platform import Running
from tests.support.receiver import Receiver
from voicegrid.core.egress import PERMISSIVE


async def _until(condition, limit_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(limit_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within the time")


async def test_the_delivery_log_shows_each_events_last_answer_and_a_retry_sends_them_now(
    run: Running, world: World
) -> None:
    records = run.platform.services.records
    assert records is not None
    assert records.webhooks is not None
    sender = records.webhooks
    sender.destinations, sender.backoff_s = PERMISSIVE, 60.0  # the endpoint is on loopback; retries far off
    receiver = Receiver(statuses=[503, 400])
    await receiver.start()
    await sender.start()
    biz, other = world.business_a1, world.business_b1
    url = f"/v1/businesses/{biz}/webhook/deliveries"
    try:
        await sender.send(receiver.url, biz, "call.ended", {"id": "call_w1"})
        await receiver.wait_for(1)
        await _until(lambda: sender.log_of(biz)["waiting"][0]["last_status"] == 503)
        await sender.send(receiver.url, biz, "call.started", {"id": "call_w2"})  # refused: 400
        await receiver.wait_for(2)
        await _until(lambda: len(sender.log_of(biz)["given_up"]) == 1)
        await sender.send(receiver.url, other, "call.started", {"id": "call_w3"})  # another business's
        await receiver.wait_for(3)
        log = await run.ok("GET", url)
        [waiting], [given_up] = log["waiting"], log["given_up"]
        assert (waiting["call_id"], waiting["event"], waiting["attempts"]) == ("call_w1", "call.ended", 1)
        assert (waiting["last_status"], waiting["last_error"]) == (503, None)
        assert (given_up["call_id"], given_up["last_status"]) == ("call_w2", 400)
        assert "call_w3" not in str(log)  # only this business's events

        retried = await run.admin("POST", f"{url}/retry")
        assert retried.status_code == 202
        assert retried.json() == {"retried": 2}
        await receiver.wait_for(5)  # both again, now answered 200
        await _until(lambda: sender.log_of(biz) == {"waiting": [], "given_up": []})
    finally:
        await sender.aclose()
        await receiver.stop()
    again = {
        r.headers["x-voicegrid-delivery"]: r.headers["x-voicegrid-attempt"] for r in receiver.received[3:]
    }
    assert again == {waiting["id"]: "2", given_up["id"]: "1"}  # the same deliveries; a revived one anew
    node = run.platform.settings.node_name
    assert (await run.ok("GET", url)) == {"node": node, "waiting": [], "given_up": []}
