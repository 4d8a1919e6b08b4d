"""An agent's tool tried from the dashboard before a call uses it: a webhook tool is sent the request
a call would send (signed for the business, `call_id` "test"), under the same destination policy and
timeout; a transfer tool says where the call would go; tests hold nothing past their timeout and at
most two run at once for a business."""

import asyncio
import json
import time
from typing import Any

import pytest

from tests.api.world import World
from tests.support.platform import Running
from tests.support.receiver import Receiver
from voicegrid.core.egress import Destinations
from voicegrid.core.webhooks import verify
from voicegrid.pipeline.errors import ToolTestsBusy
from voicegrid.pipeline.tools import ToolTests

LOOPBACK = Destinations(allowed_networks=("127.0.0.0/8",))


async def _agent(run: Running, world: World) -> str:
    base = f"/v1/businesses/{world.business_a1}/agents"
    created = await run.ok("POST", base, json={"name": "Bella"})
    return f"{base}/{created['id']}"


def _webhook(url: str, timeout_ms: int = 2000) -> dict[str, Any]:
    return {"name": "order_status", "kind": "webhook", "url": url, "timeout_ms": timeout_ms,
            "description": "Where an order is", "parameters": {"type": "object"}}  # fmt: skip


@pytest.fixture
async def receiver() -> Any:
    hooks = Receiver()
    await hooks.start()
    yield hooks
    await hooks.stop()


async def test_a_webhook_tool_is_sent_what_a_call_would_send_signed_for_the_business(
    run: Running, world: World, receiver: Receiver
) -> None:
    services = run.platform.services
    services.tool_tests = ToolTests(services.secrets.webhook_key, LOOPBACK)  # the operator opened loopback
    agent = await _agent(run, world)
    tried = await run.ok(
        "POST", f"{agent}/tools/test", world.key("business", "member"),
        json={"tool": _webhook(receiver.url), "arguments": {"order": "A-17"}},
    )  # fmt: skip
    assert (tried["ok"], tried["action"]) == (True, None)
    assert tried["elapsed_ms"] >= 0
    [sent] = receiver.received
    body = json.loads(sent.body)
    assert body == {"tool": "order_status", "arguments": {"order": "A-17"}, "call_id": "test",
                    "agent_id": agent.rsplit("/", 1)[1]}  # fmt: skip
    key = services.secrets.webhook_key(world.business_a1)
    assert verify(key, sent.body, sent.headers["x-voicegrid-signature"], time.time())
    audit = await run.ok("GET", "/v1/audit-log", params={"resource": "agents"})
    assert any(e["action"] == "test_tool" and e["changes"]["tool"] == "order_status" for e in audit["items"])


async def test_a_webhook_tool_that_answers_an_error_is_shown_failed_with_its_status(
    run: Running, world: World, receiver: Receiver
) -> None:
    services = run.platform.services
    services.tool_tests = ToolTests(services.secrets.webhook_key, LOOPBACK)
    receiver.statuses = [503]
    tried = await run.ok(
        "POST", f"{await _agent(run, world)}/tools/test", json={"tool": _webhook(receiver.url)}
    )
    assert tried["ok"] is False
    assert "answered 503" in tried["result"]


async def test_a_webhook_tool_to_a_private_address_is_refused_as_a_calls_would_be(
    run: Running, world: World, receiver: Receiver
) -> None:
    # the default policy: public addresses only; loopback, private networks and metadata services not
    agent = await _agent(run, world)
    for url in (receiver.url, "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x"):
        tried = await run.ok("POST", f"{agent}/tools/test", json={"tool": _webhook(url)})
        assert tried["ok"] is False
        assert "not allowed" in tried["result"], tried
    assert receiver.received == []


async def test_a_transfer_tool_says_where_the_call_would_go_and_refuses_a_target_it_does_not_allow(
    run: Running, world: World
) -> None:
    agent = await _agent(run, world)
    tool = {"name": "desk", "kind": "transfer_call", "targets": ["+4930*", "sip:desk@pbx.example.com"]}
    went = await run.ok(
        "POST", f"{agent}/tools/test", json={"tool": tool, "arguments": {"to": "+49 30 1234"}}
    )
    assert (went["ok"], went["action"], went["argument"]) == (True, "transfer", "+49301234")
    refused = await run.ok(
        "POST", f"{agent}/tools/test", json={"tool": tool, "arguments": {"to": "+15550100"}}
    )
    assert (refused["ok"], refused["action"]) == (False, None)


async def test_a_tool_that_the_api_would_not_save_is_not_tried(run: Running, world: World) -> None:
    agent = await _agent(run, world)
    for tool in (
        {"name": "x", "kind": "webhook"},  # no url
        {"name": "x", "kind": "webhook", "url": "file:///etc/passwd"},
        {"name": "x y", "kind": "end_call"},
        {"name": "desk", "kind": "transfer_call", "target": "+1 (555) 0100\r\nVia: evil"},
    ):
        response = await run.admin("POST", f"{agent}/tools/test", json={"tool": tool})
        assert response.status_code == 422, (tool, response.text)


async def test_a_hanging_webhook_is_given_up_at_its_timeout_and_tests_are_capped_per_business(
    run: Running, world: World
) -> None:
    held: list[asyncio.StreamWriter] = []
    both = asyncio.Event()

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        if len(held) == 2:
            both.set()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/slow"
    services = run.platform.services
    services.tool_tests = tests = ToolTests(services.secrets.webhook_key, LOOPBACK, per_business=2)
    agent = await _agent(run, world)
    try:
        slow = {"tool": _webhook(url, timeout_ms=1500)}
        first = [asyncio.ensure_future(run.admin("POST", f"{agent}/tools/test", json=slow)) for _ in range(2)]
        await asyncio.wait_for(both.wait(), 10)  # both tests hold a connection
        third = await run.admin("POST", f"{agent}/tools/test", json=slow)
        assert third.status_code == 429
        assert third.json()["detail"] == "2 tool tests of this business are under way already"
        assert third.headers["retry-after"] == "1"
        for response in await asyncio.gather(*first):
            tried = response.json()
            assert tried["ok"] is False
            assert "did not answer in 1.5 s" in tried["result"]
        assert tests._running == {}  # given back on the error path
        again = await run.admin("POST", f"{agent}/tools/test", json={"tool": _webhook(url, timeout_ms=100)})
        assert again.status_code == 200
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_nodes_tool_tests_are_capped_across_businesses() -> None:
    tests = ToolTests(lambda _b: b"k", per_business=5, per_node=2)
    tests._running = {"biz_a": 1, "biz_b": 1}  # two under way on this node
    with pytest.raises(ToolTestsBusy):
        await tests("biz_c", "agent", {"name": "bye", "kind": "end_call"}, {})
    tests._running = {"biz_a": 1}
    ended = await tests("biz_c", "agent", {"name": "bye", "kind": "end_call"}, {"reason": "done"})
    assert (ended.action, ended.argument) == ("end", "done")
    assert tests._running == {"biz_a": 1}
