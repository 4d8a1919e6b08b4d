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

from collections.abc import Callable
from typing import Any

import orjson

from voicegrid.transports.carrier import CarrierStream, Dialect, StreamStart, bounded_parameters, short

SUPPORTED = ("PCMU", "PCMA")


def _start(message: dict[str, Any]) -> StreamStart:
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


def _envelope(start: StreamStart | None, event: str, body: dict[str, Any]) -> str:
    return orjson.dumps({"event": event, **body}).decode()


def _token(message: dict[str, Any]) -> str | None:
    connected = message.get("connected")
    return short(connected.get("x-telnyx-streaming-auth-token"), 256) if isinstance(connected, dict) else None


TELNYX = Dialect("telnyx", _start, _envelope, _token)


class TelnyxStream(CarrierStream):
    def __init__(self, send_text: Callable[[str], None], on_close: Callable[[str], None]) -> None:
        super().__init__(TELNYX, send_text, on_close)
