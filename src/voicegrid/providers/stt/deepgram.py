"""Deepgram live speech-to-text over WebSocket: Nova (`/v1/listen`) and Flux (`/v2/listen`).

Written from Deepgram's public docs (developers.deepgram.com: "Live Audio" /v1/listen reference,
"Finalize", "Close Stream", "Audio Keep Alive", and the Flux /v2/listen reference):

- connect to `{base}/v1/listen?model=nova-3&encoding=linear16&sample_rate=..&channels=1&interim_results=true
  &endpointing=<ms>&utterance_end_ms=1000&vad_events=true&language=..` with `Authorization: Token <key>`;
- send raw audio as binary frames; `{"type": "KeepAlive"}` at least every 10 s of no audio;
  `{"type": "Finalize"}` to flush; `{"type": "CloseStream"}` to end;
- receive `{"type": "Results", "is_final", "speech_final", "channel": {"alternatives": [{"transcript",
  "confidence"}]}}`, plus `Metadata`, `SpeechStarted` and `UtteranceEnd`.
- Flux (`model=flux-*`, `/v2/listen`) sends `{"type": "TurnInfo", "event": "Update" | "StartOfTurn" |
  "EagerEndOfTurn" | "TurnResumed" | "EndOfTurn", "transcript"}`; EndOfTurn is our final.

The base URL is configurable (`wss://api.deepgram.com` by default), for self-hosted Deepgram.
"""

import asyncio
import contextlib
import json
import math
import time
from urllib.parse import urlencode

from voicegrid.providers.base import Usage
from voicegrid.providers.errors import ProviderAuthError, ProviderError, ProviderProtocolError
from voicegrid.providers.stt.base import Stt, SttStream, Transcript, is_flux
from voicegrid.providers.ws import ClientConnection, closed_error, open_ws, websockets

DEFAULT_BASE = "wss://api.deepgram.com"
KEEPALIVE_S = 4.0
# Deepgram's own default: its end of speech ends a turn once our VAD has heard half its quiet too
# (pipeline.session), and at the VAD's quiet when it came sooner; 300 ms made every turn wait for
# the VAD and a Finalize (v2v p50 923 ms against 728 on the streams benchmark, N = 100)
ENDPOINTING_MS = 10


class DeepgramStt(Stt):
    name = "deepgram"

    def url(self, sample_rate: int, language: str) -> str:
        base = (self.config.base_url or DEFAULT_BASE).rstrip("/")
        base = base.replace("https://", "wss://").replace("http://", "ws://")
        model = self.config.model or "nova-3"
        if is_flux(self.name, model):
            query = {"model": model, "encoding": "linear16", "sample_rate": sample_rate}
            return f"{base}/v2/listen?{urlencode(query)}"
        query = {
            "model": model,
            "encoding": "linear16",
            "sample_rate": sample_rate,
            "channels": 1,
            "interim_results": "true",
            "endpointing": int(self.config.option("endpointing_ms", ENDPOINTING_MS)),
            "utterance_end_ms": 1000,
            "vad_events": "true",
            "language": language.split("-")[0] if model.startswith("nova-3") else language,
        }
        return f"{base}/v1/listen?{urlencode(query)}"

    async def _open(self, sample_rate: int, language: str, usage: Usage) -> SttStream:
        if not self.config.api_key:
            raise ProviderAuthError(self.name, "no API key")
        ws = await open_ws(
            self.name,
            self.url(sample_rate, language),
            {"Authorization": f"Token {self.config.api_key}"},
            self.config.connect_timeout_s,
            self.config.destinations,
        )
        stream = DeepgramStream(self.name, sample_rate, usage, ws, flux=is_flux(self.name, self.config.model))
        stream.start()
        return stream


class DeepgramStream(SttStream):
    def __init__(
        self, provider: str, sample_rate: int, usage: Usage, ws: ClientConnection, flux: bool
    ) -> None:
        super().__init__(provider, sample_rate, usage)
        self.ws = ws
        self.flux = flux
        self._reader: asyncio.Task[None] | None = None
        self._last_send = time.monotonic()

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _send(self, pcm: bytes) -> None:
        try:
            await self.ws.send(pcm)
        except websockets.ConnectionClosed as exc:
            raise closed_error(self.provider, exc) from exc
        self._last_send = time.monotonic()

    async def _finalize(self) -> None:
        if self.flux:
            return  # Flux decides the end of turn itself
        await self._control({"type": "Finalize"})

    async def _control(self, message: dict[str, str]) -> None:
        try:
            await self.ws.send(json.dumps(message))
        except websockets.ConnectionClosed as exc:
            raise closed_error(self.provider, exc) from exc
        self._last_send = time.monotonic()

    async def _read(self) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        raw = await self.ws.recv()
                except TimeoutError:
                    if time.monotonic() - self._last_send >= KEEPALIVE_S:
                        await self._control({"type": "KeepAlive"})
                    continue
                if isinstance(raw, bytes):
                    continue
                self._handle(raw)
        except websockets.ConnectionClosedOK:
            self.end()
        except websockets.ConnectionClosed as exc:
            self.fail(closed_error(self.provider, exc))
        except ProviderError as exc:
            self.fail(exc)

    def _handle(self, raw: str) -> None:
        try:
            message = json.loads(raw)
            kind = message.get("type")
        except (ValueError, AttributeError) as exc:
            raise ProviderProtocolError(self.provider, "unreadable message") from exc
        if kind == "Results":
            try:
                alt = message["channel"]["alternatives"][0]
                text, confidence = str(alt.get("transcript", "")), float(alt.get("confidence", 1.0))
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise ProviderProtocolError(self.provider, "Results without a transcript") from exc
            is_final = bool(message.get("is_final"))
            end = _seconds(message.get("start"), message.get("duration"))
            if text or is_final:
                speech_final = bool(message.get("speech_final"))
                self.emit(Transcript(text, is_final, speech_final, confidence, self.provider, end))
        elif kind == "TurnInfo":
            event, text = message.get("event"), str(message.get("transcript", ""))
            if event == "EndOfTurn":
                confidence = float(message.get("end_of_turn_confidence", 1.0))
                end = _seconds(message.get("audio_window_end"), 0.0)
                self.emit(Transcript(text, True, True, confidence, self.provider, end))
            elif event in ("Update", "EagerEndOfTurn", "TurnResumed", "StartOfTurn") and text:
                self.emit(Transcript(text, False, provider=self.provider))
        elif kind == "Error":
            raise ProviderProtocolError(self.provider, str(message.get("description") or message)[:200])

    async def _close(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed, OSError):
            await self.ws.send(json.dumps({"type": "CloseStream"}))
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            if self._reader is not None:
                async with asyncio.timeout(1.0):
                    await asyncio.shield(self._reader)
        if self._reader is not None:
            self._reader.cancel()
        await self.ws.close()
        self.end()


def _seconds(start: object, duration: object) -> float | None:
    """Where a result's audio ends on the stream (`start` + `duration`, seconds); None when the
    message does not say, or says it with something other than two finite numbers."""
    if not isinstance(start, int | float) or not isinstance(duration, int | float):
        return None
    end = float(start) + float(duration)
    return end if math.isfinite(end) else None
