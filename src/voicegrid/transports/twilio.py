"""Twilio Media Streams (bidirectional, `<Connect><Stream>`), per
twilio.com/docs/voice/media-streams/websocket-messages.

Twilio sends `connected`, `start` (streamSid, callSid, customParameters, mediaFormat audio/x-mulaw
8000 Hz mono), `media` (base64 μ-law, 20 ms), `dtmf`, `mark` and `stop`; we send `media`, `mark`
and `clear`, each naming the streamSid. TwiML passes the business key, the agent and, if wanted,
the caller's number as `<Parameter>`s: `api_key`, `agent_id`, `from`, `to`.
"""

import json
from typing import Any

from voicegrid.transports.carrier import CarrierStream, StreamCounters, StreamStart, bounded_parameters, short

__all__ = ["StreamCounters", "StreamStart", "TwilioStream"]


class TwilioStream(CarrierStream):
    carrier = "twilio"
    inbound_tracks = ("inbound", "inbound_track")

    def _parse_start(self, message: dict[str, Any]) -> StreamStart:
        start = message.get("start")
        start = start if isinstance(start, dict) else {}
        params = bounded_parameters(start.get("customParameters"))
        return StreamStart(
            short(message.get("streamSid") or start.get("streamSid")) or "",
            short(start.get("callSid")),
            params,
            from_number=params.get("from"),
            to=params.get("to"),
        )

    def _envelope(self, event: str, body: dict[str, Any] | None = None) -> str:
        stream_sid = self.start.stream_id if self.start is not None else ""
        return json.dumps({"event": event, "streamSid": stream_sid, **(body or {})})
