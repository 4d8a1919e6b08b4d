"""Call events to a business's URL: signed, retried with backoff on failures worth retrying, never
sent into the platform's own network unless allowed."""

import asyncio
import json
import time

from tests.support.receiver import Receiver
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.core.webhooks import verify

KEY = b"k" * 32


async def test_an_event_is_retried_with_backoff_until_the_endpoint_takes_it_and_is_signed_each_time() -> None:
    receiver = Receiver(statuses=[503, 429])
    await receiver.start()
    sender = WebhookSender(allow_private=True, backoff_s=0.05)
    try:
        started = time.monotonic()
        sender.send(receiver.url, KEY, "call.ended", {"id": "call_1", "cost": {"total": 0.01}})
        await receiver.wait_for(3)
        assert time.monotonic() - started >= 0.05 + 0.1  # waited 50 ms, then 100 ms
        await sender.aclose()
    finally:
        await receiver.stop()
    assert [r.headers["x-voicegrid-attempt"] for r in receiver.received] == ["1", "2", "3"]
    for r in receiver.received:
        assert verify(KEY, r.body, r.headers["x-voicegrid-signature"], time.time())
        assert r.headers["x-voicegrid-event"] == "call.ended"
    assert json.loads(receiver.received[-1].body) == {
        "event": "call.ended",
        "data": {"id": "call_1", "cost": {"total": 0.01}},
    }
    assert (sender.delivered, sender.failed) == (1, 0)


async def test_a_refusal_is_not_retried_and_a_private_address_is_not_called_on_a_shared_platform() -> None:
    receiver = Receiver(statuses=[400])
    await receiver.start()
    strict = WebhookSender(allow_private=False, backoff_s=0.01)
    lenient = WebhookSender(allow_private=True, backoff_s=0.01)
    try:
        strict.send(receiver.url, KEY, "call.started", {"id": "call_2"})
        lenient.send(receiver.url, KEY, "call.started", {"id": "call_2"})
        await receiver.wait_for(1)
        await asyncio.sleep(0.2)  # time for a retry, had there been one
        await strict.aclose()
        await lenient.aclose()
    finally:
        await receiver.stop()
    assert len(receiver.received) == 1  # the lenient sender's one try; the strict one never called
    assert (strict.failed, lenient.failed, lenient.delivered) == (1, 1, 0)
