"""Telnyx's side of a media stream: what Telnyx does once Call Control starts streaming a call to a
`stream_url` in bidirectional RTP mode (developers.telnyx.com, "Stream call media over WebSocket").

It opens the WebSocket with the `x-telnyx-streaming-auth-token` header (and the token in the
`connected` frame), sends `connected` and `start` (stream_id; call_control_id, from, to,
media_format), then the caller's audio as `media` frames of 20 ms G.711 (PCMU or PCMA, base64 RTP
payload without headers, track `inbound`) paced in real time, and `stop` to end. What the
application sends back is played out as Telnyx would: `media` queues audio, `mark` comes back once
the audio queued before it has played, `clear` drops the queue and returns its marks.
"""

import asyncio
import base64
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voicegrid.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

FRAME = 160  # samples in 20 ms at 8 kHz


@dataclass
class Played:
    """What the caller heard, and the control frames the application sent."""

    audio: list[np.ndarray] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    clears: int = 0
    invalid: int = 0
    closed: tuple[int, str] | None = None

    def pcm(self) -> np.ndarray:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, dtype=np.int16)


class TelnyxMediaStream:
    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        from_number: str = "+15550142",
        to: str = "+15550100",
        encoding: str = "PCMU",
        custom_parameters: dict[str, str] | None = None,
    ) -> None:
        self.url, self.token, self.encoding = url, token, encoding
        self.from_number, self.to = from_number, to
        self.custom_parameters = custom_parameters or {}
        self.stream_id = str(uuid.uuid4())
        self.call_control_id = "v3:" + uuid.uuid4().hex
        self.played = Played()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sequence = 0
        self._encode = alaw_encode if encoding == "PCMA" else ulaw_encode
        self._decode = alaw_decode if encoding == "PCMA" else ulaw_decode

    async def __aenter__(self) -> "TelnyxMediaStream":
        headers = {"x-telnyx-streaming-auth-token": self.token} if self.token else None
        self._ws = await connect(self.url, additional_headers=headers, open_timeout=10)
        self._reader = asyncio.ensure_future(self._read(self._ws))
        connected: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
        if self.token:
            connected["connected"] = {"x-telnyx-streaming-auth-token": self.token}
        await self._send(connected)
        start = {
            "call_control_id": self.call_control_id,
            "client_state": None,
            "from": self.from_number,
            "to": self.to,
            "media_format": {"encoding": self.encoding, "sample_rate": 8000, "channels": 1},
        }
        if self.custom_parameters:
            start["custom_parameters"] = dict(self.custom_parameters)
        await self._send({"event": "start", "stream_id": self.stream_id, "start": start})
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        self._sequence += 1
        await self._ws.send(json.dumps({**message, "sequence_number": str(self._sequence)}))

    async def speak(self, pcm: np.ndarray) -> None:
        """The caller's audio (8 kHz PCM16), as 20 ms media frames on an absolute schedule."""
        start = time.monotonic()
        for n, at in enumerate(range(0, len(pcm) - FRAME + 1, FRAME)):
            payload = base64.b64encode(self._encode(pcm[at : at + FRAME])).decode()
            media = {"track": "inbound", "chunk": str(n + 1), "timestamp": str(n * 20), "payload": payload}
            try:
                await self._send({"event": "media", "stream_id": self.stream_id, "media": media})
            except ConnectionClosed:
                return
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))

    async def silence(self, seconds: float) -> None:
        await self.speak(np.zeros(int(seconds * 8000), dtype=np.int16))

    async def dtmf(self, digit: str) -> None:
        await self._send({"event": "dtmf", "stream_id": self.stream_id, "dtmf": {"digit": digit}})

    async def stop(self) -> None:
        """The call ended on Telnyx's side."""
        with contextlib.suppress(ConnectionClosed):
            await self._send({"event": "stop", "stream_id": self.stream_id, "stop": {"reason": "hangup"}})

    async def closed(self, timeout_s: float) -> tuple[int, str] | None:
        """Until the application closes the socket (or `timeout_s`): its close code and reason."""
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), timeout_s)
        return self.played.closed

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._on_frame(message)
        except ConnectionClosed:
            pass
        if ws.close_code is not None:
            self.played.closed = (ws.close_code, ws.close_reason or "")

    def _on_frame(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
            event = frame["event"]
        except (ValueError, KeyError, TypeError):
            self.played.invalid += 1
            return
        if event == "media":
            payload = base64.b64decode(frame["media"]["payload"])
            self.played.audio.append(self._decode(payload))
        elif event == "mark":  # played at once here: the audio before it is already "heard"
            self.played.marks.append(str(frame["mark"]["name"]))
        elif event == "clear":
            self.played.clears += 1
        else:
            self.played.invalid += 1
