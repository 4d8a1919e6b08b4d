"""Telnyx media streaming, bidirectional in RTP mode, per developers.telnyx.com ("Stream call media
over WebSocket").

Telnyx opens the socket to the `stream_url` given to Call Control (with
`stream_bidirectional_mode=rtp`, `stream_bidirectional_codec=PCMU` or `PCMA`) and sends `connected`,
`start` (`stream_id`; `start.call_control_id`, `from`, `to`, `custom_parameters`,
`media_format` {encoding, sample_rate, channels}), `media` (base64 RTP payload without headers, with
its `track`), `dtmf`, `mark`, `error` and `stop`. We send `media` ({"media": {"payload"}}), `mark`
and `clear`.

The business key comes as the stream's auth token (`stream_auth_token`: Telnyx sends it in the
`x-telnyx-streaming-auth-token` header and in the `connected` frame), or as an `api_key` custom
parameter; the agent as an `agent_id` custom parameter, or in the stream URL's query.
"""

import json
from typing import Any

from voicegrid.transports.carrier import CarrierStream, StreamStart, bounded_parameters, short

SUPPORTED = ("PCMU", "PCMA")


class TelnyxStream(CarrierStream):
    carrier = "telnyx"
    inbound_tracks = ("inbound", "inbound_track")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.auth_token: str | None = None  # from the connected frame, when the header had none

    def receive(self, text: str) -> StreamStart | None:
        if self.start is None and len(text) < 4096 and '"connected"' in text:
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if isinstance(message, dict) and message.get("event") == "connected":
                connected = message.get("connected")
                if isinstance(connected, dict):
                    self.auth_token = short(connected.get("x-telnyx-streaming-auth-token"), 256)
                return None
        return super().receive(text)

    def _parse_start(self, message: dict[str, Any]) -> StreamStart:
        start = message.get("start")
        start = start if isinstance(start, dict) else {}
        media_format = start.get("media_format")
        encoding = str(media_format.get("encoding", "PCMU")) if isinstance(media_format, dict) else "PCMU"
        return StreamStart(
            short(message.get("stream_id")) or "",
            short(start.get("call_control_id")),
            bounded_parameters(start.get("custom_parameters")),
            from_number=short(start.get("from"), 40),
            to=short(start.get("to"), 40),
            encoding=encoding.upper()[:16],
        )

    def _envelope(self, event: str, body: dict[str, Any] | None = None) -> str:
        return json.dumps({"event": event, **(body or {})})
