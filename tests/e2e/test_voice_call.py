"""The main job: `voicegrid call` against `voicegrid serve --demo`, over real SIP and RTP.

The caller speaks with espeak-ng; the demo agent hears it through pocketsphinx, answers from its
knowledge base, and speaks through espeak-ng; the caller records and transcribes the answer.
"""

import asyncio
import json
import math
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.receiver import Receiver
from tests.support.serve import demo_call, env_without_voicegrid, serving
from voicegrid.testing.ports import free_udp_and_tcp_port


def recorded(url: str, key: str, call_id: str, *, analysed: bool = False) -> dict[str, Any]:
    """The call as the API shows it once its record (cost, latency) is built, a moment after hangup;
    with `analysed`, once its analysis is done too."""
    deadline = time.monotonic() + (30 if analysed else 10)
    while True:
        call: dict[str, Any] = httpx.get(
            f"{url}/v1/calls/{call_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).json()
        done = not analysed or (call.get("analysis") or {}).get("status") in ("done", "failed")
        if (call.get("cost") and done) or time.monotonic() > deadline:
            return call
        time.sleep(0.1)


def test_voicegrid_call_gets_the_opening_hours_from_the_demo_agent_over_sip_and_rtp(tmp_path: Path) -> None:
    data = tmp_path / "var"
    sip = free_udp_and_tcp_port()
    with serving(data, "--demo", sip_port=sip) as (url, _log):
        result = demo_call(data, sip, "are you open at nine pm", "thank you, bye")
        key = json.loads((data / "demo.json").read_text())["api_key"]
        record = recorded(url, key, result["call_id"])
    # The record outlives the process: a new one serves it from the database.
    with serving(data, sip_port=free_udp_and_tcp_port()) as (url, _log):
        stored = httpx.get(
            f"{url}/v1/calls/{result['call_id']}", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).json()
    assert (stored["cost"], stored["latency"]) == (record["cost"], record["latency"])
    assert stored["conversation"]["transcript"] == record["conversation"]["transcript"]
    assert record["agent_version"] == stored["agent_version"] == 1  # the version that answered
    speakers = [t["speaker"] for t in result["turns"]]
    assert speakers == ["agent", "caller", "agent", "caller", "agent"]
    greeting, _, answer, _, goodbye = result["turns"]
    assert greeting["text"].startswith("Hello, thank you for calling Bella Pizza")
    assert answer["text"] == "We are open every day from 11 am to 10 pm."
    # What the caller itself heard and transcribed from the RTP it received:
    assert "open" in answer["heard"]
    assert "every day" in answer["heard"]
    assert answer["audio_ms"] > 1500
    assert 100 < answer["voice_to_voice_ms"] < 3000
    assert goodbye["text"] == "Thank you for calling. Goodbye!"
    # The platform's record: the agent ended the call, and every turn has its timestamps in order.
    assert record["ended_by"] == "agent"
    assert record["state"] == "ended"
    turns = record["conversation"]["turns"]
    assert len(turns) == 2
    for turn in turns:
        stamps = [
            turn[k]
            for k in (
                "speech_end_at",
                "stt_final_at",
                "llm_first_token_at",
                "tts_first_audio_at",
                "first_packet_at",
            )
        ]
        assert stamps == sorted(stamps)
    usage = {(u["stage"], u["provider"]) for u in record["conversation"]["usage"]}
    assert usage == {("stt", "pocketsphinx"), ("llm", "knowledge-base"), ("tts", "espeak-ng")}
    # Its cost: an item per component, each its usage times the catalog's price.
    cost = record["cost"]
    items = {i["component"]: i for i in cost["items"]}
    assert set(items) == {"stt", "llm", "tts", "telephony"}
    usage = {u["stage"]: u for u in record["conversation"]["usage"]}
    assert items["stt"]["quantity"] == pytest.approx(usage["stt"]["audio_seconds"] / 60)
    assert items["tts"]["quantity"] == pytest.approx(usage["tts"]["characters"] / 1000)
    assert items["telephony"]["model"] == "inbound"
    answered_s = (
        datetime.fromisoformat(record["ended_at"]) - datetime.fromisoformat(record["answered_at"])
    ).total_seconds()
    assert items["telephony"]["quantity"] == pytest.approx(math.ceil(answered_s / 6) * 6 / 60)
    for item in cost["items"]:
        assert Decimal(str(item["amount"])) == (
            Decimal(str(item["quantity"])) * Decimal(str(item["unit_price"]))
        ).quantize(Decimal("0.000001"))
    assert cost["total"] == pytest.approx(sum(i["amount"] for i in cost["items"]))
    assert items["telephony"]["amount"] > 0  # the embedded engines cost nothing; the trunk does
    # Its latency: per turn, the components fit inside voice-to-voice.
    latency = record["latency"]
    assert len(latency["turns"]) == 2
    for turn in latency["turns"]:
        parts = [
            turn[k]
            for k in (
                "endpointing_ms",
                "stt_final_ms",
                "llm_first_token_ms",
                "tts_first_audio_ms",
                "platform_ms",
            )
        ]
        assert all(p is not None and p >= 0 for p in parts)
        assert sum(parts) <= turn["voice_to_voice_ms"] + 1
    assert latency["p50"]["voice_to_voice_ms"] <= latency["p95"]["voice_to_voice_ms"]


async def test_a_tool_webhook_of_a_real_sip_call_carries_that_calls_id(tmp_path: Path) -> None:
    """The agent is built once the call has its id: the webhook names the call it was made on."""
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
                agent = (await api.get(f"/v1/agents/{demo['agent_id']}")).json()
                kb = agent["knowledge_base"]
                kb["faq"][0]["tool"] = "note_hours_asked"  # the opening-hours answer also calls the tool
                tool = {"name": "note_hours_asked", "kind": "webhook", "url": receiver.url}
                changes = {"knowledge_base": kb, "tools": [*agent["tools"], tool]}
                (await api.patch(f"/v1/agents/{demo['agent_id']}", json=changes)).raise_for_status()
            result = await asyncio.to_thread(
                demo_call, data, sip, "are you open at nine pm", "thank you, bye"
            )
            await asyncio.wait_for(receiver.arrived.wait(), 10)
    finally:
        await receiver.stop()
    sent = json.loads(receiver.received[0].body)
    assert (sent["tool"], sent["agent_id"]) == ("note_hours_asked", demo["agent_id"])
    assert sent["call_id"] == result["call_id"]
    assert sent["call_id"].startswith("call_")
