"""The Telnyx media-streaming core, fed frames: the auth token of `connected`, the `start` frame, A-law
media both ways, and frames we send without Twilio's streamSid."""

import base64
import json

import numpy as np

from voicegrid.media.g711 import alaw_decode, alaw_encode
from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.telephony.agents import EchoAgent
from voicegrid.transports.telnyx import TelnyxStream

TONE = (6000 * np.sin(2 * np.pi * 400 * np.arange(160) / 8000)).astype(np.int16)


class Heard(EchoAgent):
    def __init__(self) -> None:
        self.frames: list[AudioFrame] = []

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        self.frames.append(frame)


def test_the_connected_token_the_start_frame_and_a_law_media_are_read_as_telnyx_sends_them() -> None:
    sent: list[dict[str, object]] = []
    stream = TelnyxStream(lambda text: sent.append(json.loads(text)), lambda reason: None)
    stream.receive(json.dumps({"event": "connected", "connected": {"x-telnyx-streaming-auth-token": "vg_k"}}))
    start = stream.receive(
        json.dumps(
            {
                "event": "start",
                "stream_id": "s-1",
                "start": {
                    "call_control_id": "v3:abc",
                    "from": "+15550142",
                    "to": "+15550100",
                    "custom_parameters": [{"name": "agent_id", "value": "agt_1"}],
                    "media_format": {"encoding": "pcma", "sample_rate": 8000, "channels": 1},
                },
            }
        )
    )
    assert stream.auth_token == "vg_k"
    assert start is not None
    assert (start.carrier_call_id, start.from_number, start.to, start.encoding) == (
        "v3:abc", "+15550142", "+15550100", "PCMA"
    )  # fmt: skip
    assert start.parameters == {"agent_id": "agt_1"}
    agent = stream.agent = Heard()
    payload = base64.b64encode(alaw_encode(TONE)).decode()
    stream.receive(json.dumps({"event": "media", "media": {"track": "inbound", "payload": payload}}))
    stream.receive(json.dumps({"event": "media", "media": {"track": "outbound", "payload": payload}}))
    assert len(agent.frames) == 1  # our own track is not heard back
    assert np.array_equal(agent.frames[0].pcm, alaw_decode(alaw_encode(TONE)))
    stream.queue(TONE)
    stream.on_tick(0.0, 0.0)
    assert sent[0]["event"] == "media"
    assert "streamSid" not in sent[0]
    media = sent[0]["media"]
    assert isinstance(media, dict)
    assert np.array_equal(
        alaw_decode(base64.b64decode(str(media["payload"]))), alaw_decode(alaw_encode(TONE))
    )
