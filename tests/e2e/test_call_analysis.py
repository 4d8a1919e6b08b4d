"""A demo call over real SIP and RTP is analysed offline once its record is stored: the record names
the question asked, the tool called, the outcome and what the caller said, and the business hears
`call.analyzed`."""

import asyncio
import json
from pathlib import Path

import httpx

from tests.e2e.test_voice_call import recorded
from tests.support.receiver import Receiver
from tests.support.serve import demo_call, env_without_voicegrid, serving
from voicegrid.testing.ports import free_udp_and_tcp_port

SCHEMA = {
    "type": "object",
    "properties": {"time": {"type": "string", "format": "time"}},
    "required": ["time"],
}


async def test_a_demo_call_is_analysed_offline_with_its_intent_tool_outcome_and_the_caller_s_words(
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    await receiver.start()
    data, sip = tmp_path / "var", free_udp_and_tcp_port()
    env = env_without_voicegrid(VOICEGRID_ALLOW_PRIVATE_DESTINATIONS="true")  # the receiver is on loopback
    try:
        with serving(data, "--demo", sip_port=sip, env=env) as (url, _log):
            demo = json.loads((data / "demo.json").read_text())
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"}, timeout=10
            ) as api:
                hooks = f"/v1/businesses/{demo['business_id']}/webhook"
                (await api.put(hooks, json={"url": receiver.url})).raise_for_status()
                plan = {"analysis": {"schema": SCHEMA}}
                (await api.patch(f"/v1/agents/{demo['agent_id']}", json=plan)).raise_for_status()
                result = await asyncio.to_thread(
                    demo_call, data, sip, "are you open at nine pm", "thank you, bye"
                )
                call = await asyncio.to_thread(
                    recorded, url, demo["api_key"], result["call_id"], analysed=True
                )
            async with asyncio.timeout(20):
                while True:
                    receiver.arrived.clear()
                    if any(json.loads(r.body)["event"] == "call.analyzed" for r in receiver.received):
                        break
                    await receiver.arrived.wait()
    finally:
        await receiver.stop()
    analysis = call["analysis"]
    assert analysis["status"] == "done", analysis
    assert analysis["engine"] == "embedded"
    assert analysis["intents"] == [{"intent": "When are you open?", "answered": True}]
    assert analysis["tools"] == ["end_call"]  # the agent hung up after the caller's goodbye
    assert analysis["outcome"] == call["outcome"] == "completed"
    assert {"kind": "time", "text": "at 9 pm", "value": "21:00"} in analysis["entities"]
    assert analysis["extracted"] == {"time": "21:00"}
    assert analysis["success"]["passed"] is True
    assert "When are you open?" in analysis["summary"]
    assert analysis["cost"] == 0.0  # offline: free, and no item added to the call's cost
    assert {i["component"] for i in call["cost"]["items"]} == {"stt", "llm", "tts", "telephony"}
    events = [json.loads(r.body) for r in receiver.received]
    (event,) = [e["data"] for e in events if e["event"] == "call.analyzed"]
    assert event["id"] == result["call_id"]
    assert event["analysis"] == analysis
