"""Twilio Media Streams (bidirectional, `<Connect><Stream>`), per
twilio.com/docs/voice/media-streams/websocket-messages.

Twilio sends `connected`, `start` (streamSid, callSid, customParameters, mediaFormat audio/x-mulaw
8000 Hz mono), `media` (base64 μ-law, 20 ms), `dtmf`, `mark` and `stop`; we send `media`, `mark`
and `clear`, each naming the streamSid. TwiML passes the business key, the agent and, if wanted,
the caller's number as `<Parameter>`s: `api_key`, `agent_id`, `from`, `to`.
"""

from collections.abc import Callable
from typing import Any

import orjson

from voicegrid.transports.carrier import (
    CarrierStream,
    Dialect,
    StreamCounters,
    StreamStart,
    bounded_parameters,
    short,
)

__all__ = ["TWILIO", "StreamCounters", "StreamStart", "TwilioStream"]


def _start(message: dict[str, Any]) -> StreamStart:
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


def _envelope(start: StreamStart | None, event: str, body: dict[str, Any]) -> str:
    return orjson.dumps({"event": event, "streamSid": start.stream_id if start else "", **body}).decode()


TWILIO = Dialect("twilio", _start, _envelope)


class TwilioStream(CarrierStream):
    def __init__(self, send_text: Callable[[str], None], on_close: Callable[[str], None]) -> None:
        super().__init__(TWILIO, send_text, on_close)
