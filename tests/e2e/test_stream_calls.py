"""Calls over WebSocket media streams go through the same call path as SIP calls: admitted against
the business's limits, listed live, hung up through the API, and recorded with cost, turns and
transcript. A real `voicegrid serve --demo`, real sockets, espeak-ng speaking the caller's lines."""

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.calls import recorded_call, spoken, wait_for, while_said
from tests.support.serve import env_without_voicegrid, serving
from voicegrid.media.g711 import ulaw_encode

ADMIN = "vg_admin_for_stream_call_tests_1"
OPEN_HOURS = "We are open every day from 11 am to 10 pm."  # the demo agent's answer


def twilio_start(api_key: str, agent_id: str, sid: str) -> str:
    params = {"api_key": api_key, "agent_id": agent_id, "from": "+15550142", "to": "+15550100"}
    return json.dumps(
        {
            "event": "start",
            "streamSid": f"MZ{sid}",
            "start": {
                "streamSid": f"MZ{sid}",
                "callSid": f"CA{sid}",
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def twilio_media(pcm: np.ndarray, sid: str) -> str:
    payload = base64.b64encode(ulaw_encode(pcm)).decode()
    return json.dumps(
        {"event": "media", "streamSid": f"MZ{sid}", "media": {"track": "inbound", "payload": payload}}
    )


class Heard:
    """What a stream's far end received, read until the socket closes."""

    def __init__(self) -> None:
        self.frames = 0
        self.closed: tuple[int, str] | None = None

    async def read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                if isinstance(message, bytes) or json.loads(message).get("event") == "media":
                    self.frames += 1
        except ConnectionClosed:
            pass
        if ws.close_code is not None:
            self.closed = (ws.close_code, ws.close_reason or "")


async def paced(ws: ClientConnection, frames: list[Any]) -> None:
    """Send one frame every 20 ms on an absolute schedule (relative sleeps drift on a busy machine)."""
    start = time.monotonic()
    for n, frame in enumerate(frames):
        await ws.send(frame)
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))


async def calls_live(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = (await api.get("/v1/calls/live")).json()["calls"]
    return calls


async def slot_free(api: httpx.AsyncClient) -> bool:
    return bool((await api.get("/v1/calls/live")).json()["in_use"] == 0)


async def refused(url: str, first: Any) -> tuple[Heard, tuple[int, str] | None]:
    heard = Heard()
    async with connect(url, open_timeout=10) as ws:
        for frame in first:
            await ws.send(frame)
        await asyncio.wait_for(heard.read(ws), 10)
    return heard, heard.closed


async def test_stream_calls_are_admitted_listed_hung_up_and_recorded_like_sip_calls(tmp_path: Path) -> None:
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=ADMIN)
    with serving(tmp_path / "var", "--demo", env=env) as (url, _log):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        key, agent_id, business = demo["api_key"], demo["agent_id"], demo["business_id"]
        admin = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        api = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        limits = {"max_concurrent_calls": 1, "max_outbound_cps": None, "monthly_minutes": None}
        (await admin.put(f"/v1/businesses/{business}/limits", json=limits)).raise_for_status()
        ws_base = url.replace("http://", "ws://")
        question = await spoken("are you open at nine pm", 8000)

        # Within the limit: a Twilio call holds the business's one slot, and shows on Live.
        heard = Heard()
        async with connect(f"{ws_base}/v1/media-streams/twilio", open_timeout=10) as ws:
            reader = asyncio.ensure_future(heard.read(ws))
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(twilio_start(key, agent_id, "first"))
            live = await wait_for(lambda: calls_live(api))
            assert [(c["transport"], c["state"], c["from_number"]) for c in live] == [
                ("twilio", "up", "+15550142")
            ]
            call_id = live[0]["id"]
            assert live[0]["sip_call_id"] == "CAfirst"
            assert (await api.get("/v1/calls/live")).json()["in_use"] == 1

            # Over the limit: another Twilio stream and a talk session are closed with the reason,
            # and hear nothing.
            other, closed = await refused(
                f"{ws_base}/v1/media-streams/twilio", [twilio_start(key, agent_id, "second")]
            )
            assert other.frames == 0
            assert closed is not None
            assert closed[0] == 1013
            assert "max_concurrent_calls=1" in closed[1]
            talk, closed = await refused(
                f"{ws_base}/v1/talk", [json.dumps({"api_key": key, "agent_id": agent_id})]
            )
            assert talk.frames == 0
            assert closed is not None
            assert closed[0] == 1013

            # The caller asks once the greeting has been said; the agent answers.
            await asyncio.sleep(6)
            frames = [
                twilio_media(question[i : i + 160], "first") for i in range(0, len(question) - 159, 160)
            ]
            await paced(ws, frames)
            silence = twilio_media(np.zeros(160, dtype=np.int16), "first")
            assert await while_said(api, call_id, OPEN_HOURS, paced(ws, [silence] * 1000))  # the answer

            # The API hangs the call up: the socket closes.
            hung = await api.post(f"/v1/calls/{call_id}/hangup")
            assert hung.status_code == 202
            await asyncio.wait_for(reader, 10)
        assert heard.frames > 100  # the greeting and the answer

        record = await recorded_call(api, call_id)
        assert (record["state"], record["transport"], record["ended_by"]) == ("ended", "twilio", "local")
        said = [(t["speaker"], t["text"]) for t in record["conversation"]["transcript"]]
        assert said[0][0] == "agent"
        assert said[0][1].startswith("Hello, thank you for calling Bella Pizza")
        assert ("agent", OPEN_HOURS) in said
        assert len(record["conversation"]["turns"]) >= 1
        items = {i["component"]: i for i in record["cost"]["items"]}
        assert (items["telephony"]["provider"], items["telephony"]["model"]) == ("twilio", "inbound")
        assert items["telephony"]["amount"] > 0
        assert record["latency"]["turns"]

        # The slot came back: a talk session is taken now, shows on Live, and is hung up the same way.
        await wait_for(lambda: slot_free(api))
        heard = Heard()
        async with connect(f"{ws_base}/v1/talk", open_timeout=10) as ws:
            reader = asyncio.ensure_future(heard.read(ws))
            await ws.send(json.dumps({"api_key": key, "agent_id": agent_id}))
            live = await wait_for(lambda: calls_live(api))
            assert [c["transport"] for c in live] == ["browser"]
            quiet = np.zeros(320, dtype="<i2").tobytes()
            await paced(ws, [quiet] * 300)  # the greeting
            wideband = await spoken("are you open at nine pm", 16000)
            await paced(
                ws,
                [wideband[i : i + 320].astype("<i2").tobytes() for i in range(0, len(wideband) - 319, 320)],
            )
            assert await while_said(api, live[0]["id"], OPEN_HOURS, paced(ws, [quiet] * 1000))
            assert (await api.post(f"/v1/calls/{live[0]['id']}/hangup")).status_code == 202
            await asyncio.wait_for(reader, 10)
        assert heard.frames > 0  # the greeting
        record = await recorded_call(api, live[0]["id"])
        telephony = next(i for i in record["cost"]["items"] if i["component"] == "telephony")
        assert (telephony["provider"], telephony["amount"]) == ("browser", 0)
        said = [(t["speaker"], t["text"]) for t in record["conversation"]["transcript"]]
        assert ("agent", OPEN_HOURS) in said
        assert len(record["conversation"]["turns"]) >= 1


async def test_a_stream_call_is_hung_up_at_the_agents_maximum_duration(tmp_path: Path) -> None:
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=ADMIN)
    with serving(tmp_path / "var", "--demo", env=env) as (url, _log):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        api = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"}, timeout=10
        )
        (await api.patch(f"/v1/agents/{demo['agent_id']}", json={"max_call_seconds": 10})).raise_for_status()
        heard = Heard()
        async with connect(url.replace("http://", "ws://") + "/v1/talk", open_timeout=10) as ws:
            await ws.send(json.dumps({"api_key": demo["api_key"], "agent_id": demo["agent_id"]}))
            await asyncio.wait_for(heard.read(ws), 30)
        calls = (await api.get("/v1/calls")).json()["items"]
        assert [(c["transport"], c["outcome"], c["ended_by"]) for c in calls] == [
            ("browser", "max-duration", "local")
        ]
