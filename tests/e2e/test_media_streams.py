"""A Twilio-style media stream over a real WebSocket to `voicegrid serve`: the echo agent answers."""

import base64
import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.serve import serving
from voicegrid.media.g711 import ulaw_decode, ulaw_encode

TONE = (8000 * np.sin(2 * np.pi * 500 * np.arange(8000) / 8000)).astype(np.int16)


def _start(api_key: str, agent_id: str) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ0123456789abcdef",
            "start": {
                "streamSid": "MZ0123456789abcdef",
                "callSid": "CA0123456789abcdef",
                "tracks": ["inbound"],
                "customParameters": {"api_key": api_key, "agent_id": agent_id},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def _media(n: int) -> str:
    payload = base64.b64encode(ulaw_encode(TONE[n * 160 : (n + 1) * 160])).decode()
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(n + 2),
            "streamSid": "MZ0123456789abcdef",
            "media": {"track": "inbound", "chunk": str(n + 1), "timestamp": str(n * 20), "payload": payload},
        }
    )


def test_a_twilio_stream_to_the_echo_agent_gets_its_audio_back(tmp_path: Path) -> None:
    with serving(tmp_path / "var", "--demo") as (url, _):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        headers = {"Authorization": f"Bearer {demo['api_key']}"}
        agents = httpx.get(f"{url}/v1/agents", headers=headers).json()["items"]
        echo_id = next(a["id"] for a in agents if a["kind"] == "echo")
        ws_url = url.replace("http://", "ws://") + "/v1/media-streams/twilio"
        received: list[bytes] = []
        with connect(ws_url, open_timeout=10) as ws:
            ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            ws.send(_start(demo["api_key"], echo_id))
            start = time.monotonic()
            for n in range(50):  # on an absolute 20 ms schedule: relative sleeps drift on a busy machine
                ws.send(_media(n))
                time.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
            deadline = time.monotonic() + 5
            while len(received) < 50 and time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=5))
                assert message["streamSid"] == "MZ0123456789abcdef"
                if message["event"] == "media":
                    received.append(base64.b64decode(message["media"]["payload"]))
            ws.send(json.dumps({"event": "stop", "sequenceNumber": "99", "streamSid": "MZ0123456789abcdef"}))
        heard = np.concatenate([ulaw_decode(chunk) for chunk in received[:50]])
        assert len(heard) == len(TONE)
        assert np.corrcoef(heard.astype(np.float64), TONE.astype(np.float64))[0, 1] > 0.99


def test_a_twilio_stream_to_the_voice_agent_hears_its_spoken_greeting(tmp_path: Path) -> None:
    """One pipeline serves every transport: the demo's voice agent greets over the media stream."""
    with serving(tmp_path / "var", "--demo") as (url, _):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        ws_url = url.replace("http://", "ws://") + "/v1/media-streams/twilio"
        received: list[bytes] = []
        with connect(ws_url, open_timeout=10) as ws:
            ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            ws.send(_start(demo["api_key"], demo["agent_id"]))
            deadline = time.monotonic() + 10
            while len(received) < 100 and time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=10))
                if message["event"] == "media":
                    received.append(base64.b64decode(message["media"]["payload"]))
            ws.send(json.dumps({"event": "stop", "sequenceNumber": "99", "streamSid": "MZ0123456789abcdef"}))
        heard = np.concatenate([ulaw_decode(chunk) for chunk in received]).astype(np.float64)
        voiced = sum(1 for i in range(0, len(heard), 160) if np.sqrt(np.mean(heard[i : i + 160] ** 2)) > 300)
        assert voiced > 50  # over a second of speech: espeak-ng saying the greeting


def test_a_stream_with_a_wrong_key_is_closed_as_a_policy_violation(tmp_path: Path) -> None:
    with serving(tmp_path / "var", "--demo") as (url, _):
        ws_url = url.replace("http://", "ws://") + "/v1/media-streams/twilio"
        with connect(ws_url, open_timeout=10) as ws:
            ws.send(_start("vg_not_a_key", "agt_nope"))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
