"""An emulator of Deepgram's live STT (`/v1/listen`, `/v2/listen` Flux) and Aura TTS (`/v1/speak`).

It follows Deepgram's public API docs (developers.deepgram.com: the /v1/listen "Live Audio"
reference with `Results`, `Metadata`, `UtteranceEnd`; "Finalize", "Close Stream", "Audio Keep Alive";
the Flux /v2/listen `TurnInfo` events; the /v1/speak WebSocket with Speak, Flush, Clear, Close and
its `Flushed` / `Cleared` answers; and the REST /v1/speak). Auth is `Authorization: Token <key>`.

Transcripts come from the script, one per utterance. An utterance ends when the audio has been quiet
for `endpointing` ms after speech, or on `Finalize`; the final `Results` (or Flux `EndOfTurn`) is
sent `first_byte_ms` later. A live stream that gets neither audio nor a message for
`idle_timeout_s` (Deepgram's 10 s) is closed with 1011 and `NET-0001`, as the "Audio Keep Alive" page
says. Aura returns a voice-like buzz as long as the text would take to say.
"""

import asyncio
import contextlib
import json
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from voicegrid.media.session import rms
from voicegrid.providers.tts.simulated import voice_like
from voicegrid.testing.emulators.base import Emulator

VOICED_RMS = 300.0
MS_PER_CHAR = 60
IDLE_TIMEOUT_S = 10.0  # no audio and no message (KeepAlive) for this long closes a live stream


def _token_ok(headers: Any, key: str) -> bool:
    value = str(headers.get("authorization", ""))
    return value in (f"Token {key}", f"token {key}", f"Bearer {key}")


class DeepgramEmulator(Emulator):
    def __init__(self, *, idle_timeout_s: float = IDLE_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.idle_timeout_s = idle_timeout_s
        self.app.router.routes.extend(
            [
                WebSocketRoute("/v1/listen", self.listen),
                WebSocketRoute("/v2/listen", self.listen),
                WebSocketRoute("/v1/speak", self.speak_ws),
                Route("/v1/speak", self.speak_rest, methods=["POST"]),
            ]
        )
        self.audio_seconds = 0.0
        self.messages: list[str] = []  # every text message a client sent

    # ---- STT ----------------------------------------------------------------------------------
    async def listen(self, ws: WebSocket) -> None:
        self.requests += 1
        fault = self.faults.next()
        if await self.ws_refuse(ws, fault, _token_ok(ws.headers, self.api_key)):
            return
        await ws.accept()
        flux = ws.url.path.startswith("/v2")
        rate = int(ws.query_params.get("sample_rate", "16000"))
        endpointing = float(ws.query_params.get("endpointing", "300")) / 1000
        voiced_s = quiet_s = 0.0
        heard_s = segment_s = 0.0  # audio on this connection; where the next result's audio starts
        pending: set[asyncio.Task[None]] = set()
        if flux:
            await ws.send_text(json.dumps({"type": "Connected", "request_id": "emulated"}))
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout_s):
                        message = await ws.receive()
                except TimeoutError:
                    await ws.close(code=1011, reason="NET-0001")
                    return
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    samples = np.frombuffer(message["bytes"][: len(message["bytes"]) // 2 * 2], dtype="<i2")
                    seconds = len(samples) / rate
                    self.audio_seconds += seconds
                    heard_s += seconds
                    loud = rms(samples) > VOICED_RMS
                    if loud:
                        voiced_s += seconds
                        quiet_s = 0.0
                        if fault == "disconnect" and voiced_s > 0.2:
                            await ws.close(code=1011, reason="emulated failure")
                            return
                    elif voiced_s > 0:
                        quiet_s += seconds
                        if quiet_s >= endpointing and voiced_s >= 0.1:
                            voiced_s = quiet_s = 0.0
                            self._later(pending, ws, flux, fault, (segment_s, heard_s), from_finalize=False)
                            segment_s = heard_s
                    continue
                text = message.get("text") or ""
                self.messages.append(text)
                kind = json.loads(text).get("type") if text.startswith("{") else None
                if kind == "Finalize" and voiced_s >= 0.1:
                    voiced_s = quiet_s = 0.0
                    self._later(pending, ws, flux, fault, (segment_s, heard_s), from_finalize=True)
                    segment_s = heard_s
                elif kind == "CloseStream":
                    await asyncio.gather(*pending, return_exceptions=True)
                    await ws.send_text(
                        json.dumps(
                            {"type": "Metadata", "request_id": "emulated", "duration": self.audio_seconds}
                        )
                    )
                    await ws.close()
                    return
        except WebSocketDisconnect:
            pass
        finally:
            for task in pending:
                task.cancel()

    def _later(
        self,
        pending: set[asyncio.Task[None]],
        ws: WebSocket,
        flux: bool,
        fault: str,
        window: tuple[float, float],
        from_finalize: bool,
    ) -> None:
        text = str(self.next_line(""))
        final = self._final(ws, flux, fault, text, window, from_finalize)
        task = asyncio.get_running_loop().create_task(final)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def _final(
        self,
        ws: WebSocket,
        flux: bool,
        fault: str,
        text: str,
        window: tuple[float, float],  # the result's audio, in seconds of this connection's
        from_finalize: bool,
    ) -> None:
        start, end = window
        await self.first_byte(fault)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            if flux:
                await ws.send_text(
                    json.dumps(
                        {
                            "type": "TurnInfo",
                            "event": "EndOfTurn",
                            "transcript": text,
                            "end_of_turn_confidence": 0.9,
                            "audio_window_start": round(start, 3),
                            "audio_window_end": round(end, 3),
                        }
                    )
                )
                return
            await ws.send_text(
                json.dumps(
                    {
                        "type": "Results",
                        "is_final": True,
                        "speech_final": True,
                        "from_finalize": from_finalize,
                        "start": round(start, 3),
                        "duration": round(end - start, 3),
                        "channel": {"alternatives": [{"transcript": text, "confidence": 0.98}]},
                    }
                )
            )

    # ---- TTS ----------------------------------------------------------------------------------
    async def speak_ws(self, ws: WebSocket) -> None:
        self.requests += 1
        fault = self.faults.next()
        if await self.ws_refuse(ws, fault, _token_ok(ws.headers, self.api_key)):
            return
        await ws.accept()
        rate = int(ws.query_params.get("sample_rate", "24000"))
        buffered: list[str] = []
        sequence = 0
        speaking: asyncio.Task[None] | None = None
        try:
            while True:
                text = await ws.receive_text()
                self.messages.append(text)
                message = json.loads(text)
                kind = message.get("type")
                if kind == "Speak":
                    buffered.append(str(message.get("text", "")))
                elif kind == "Flush":
                    said, buffered = " ".join(buffered), []
                    if speaking is not None:
                        await speaking
                    speaking = asyncio.get_running_loop().create_task(
                        self._speak(ws, said, rate, fault, sequence)
                    )
                    sequence += 1
                elif kind == "Clear":
                    buffered = []
                    if speaking is not None:
                        speaking.cancel()
                    await ws.send_text(json.dumps({"type": "Cleared", "sequence_id": sequence}))
                elif kind == "Close":
                    if speaking is not None:
                        await speaking
                    await ws.close()
                    return
        except WebSocketDisconnect:
            pass
        finally:
            if speaking is not None:
                speaking.cancel()

    async def _speak(self, ws: WebSocket, text: str, rate: int, fault: str, sequence: int) -> None:
        await self.first_byte(fault)
        audio = voice_like(len(text) * MS_PER_CHAR / 1000, rate).tobytes()
        step = rate // 5 * 2
        for i in range(0, len(audio), step):
            if fault == "disconnect" and i:
                await ws.close(code=1011, reason="emulated failure")
                return
            await ws.send_bytes(audio[i : i + step])
            await asyncio.sleep(0)
        await ws.send_text(json.dumps({"type": "Flushed", "sequence_id": sequence}))

    def http_fault(self, fault: str) -> Response | None:
        """Deepgram's own error body (its "Errors" reference): `err_code`, `err_msg`, `request_id`."""
        if fault not in ("401", "429", "500"):
            return None
        status = int(fault)
        body = {"err_code": f"EMULATED_{status}", "err_msg": f"emulated {status}", "request_id": "emulated"}
        return JSONResponse(body, status_code=status, headers={"Retry-After": "1"} if status == 429 else None)

    async def speak_rest(self, request: Request) -> Response:
        self.requests += 1
        fault = self.faults.next()
        if not _token_ok(request.headers, self.api_key):
            return self.http_fault("401") or Response(status_code=401)
        refused = self.http_fault(fault)
        if refused is not None:
            return refused
        body = await request.json()
        rate = int(request.query_params.get("sample_rate", "24000"))
        audio = voice_like(len(str(body.get("text", ""))) * MS_PER_CHAR / 1000, rate).tobytes()

        async def chunks() -> Any:
            await self.first_byte(fault)
            for i in range(0, len(audio), 3200):
                if fault == "disconnect" and i:
                    raise ConnectionResetError("emulated failure")
                yield audio[i : i + 3200]

        return StreamingResponse(chunks(), media_type="audio/l16")
