"""An emulator of ElevenLabs' WebSocket stream-input TTS (`/v1/text-to-speech/{voice}/stream-input`).

It follows the ElevenLabs API reference (elevenlabs.io/docs/api-reference/websocket): the `xi-api-key`
header, `model_id` and `output_format` (`pcm_16000`, `pcm_8000`, `ulaw_8000`) in the query; text
messages `{"text", "flush"}`, `{"text": ""}` to close; answers `{"audio": <base64>, "isFinal": false,
"normalizedAlignment": ...}` then `{"isFinal": true}`. Bad credentials close with code 1008 after an
error message, as the service does.
"""

import asyncio
import base64
import json
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from voicegrid.media.g711 import ulaw_encode
from voicegrid.providers.tts.simulated import voice_like
from voicegrid.testing.emulators.base import Emulator

MS_PER_CHAR = 60


class ElevenLabsEmulator(Emulator):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app.router.routes.append(
            WebSocketRoute("/v1/text-to-speech/{voice}/stream-input", self.stream_input)
        )
        self.messages: list[dict[str, Any]] = []

    async def stream_input(self, ws: WebSocket) -> None:
        self.requests += 1
        fault = self.faults.next()
        if await self.ws_refuse(ws, fault, True):
            return
        await ws.accept()
        if ws.headers.get("xi-api-key") != self.api_key:
            await ws.send_text(
                json.dumps({"message": "Invalid API key", "error": "invalid_api_key", "code": 1008})
            )
            await ws.close(code=1008, reason="invalid api key")
            return
        fmt = ws.query_params.get("output_format", "pcm_16000")
        rate = int(fmt.rsplit("_", 1)[-1])
        text: list[str] = []
        try:
            while True:
                message = json.loads(await ws.receive_text())
                self.messages.append(message)
                piece = str(message.get("text", ""))
                if piece.strip():
                    text.append(piece.strip())
                if (message.get("flush") or piece == "") and text:
                    if not await self._speak(ws, " ".join(text), fmt, rate, fault):
                        return
                    text = []
                if piece == "":
                    await ws.send_text(json.dumps({"isFinal": True}))
                    await ws.close()
                    return
        except WebSocketDisconnect:
            pass

    async def _speak(self, ws: WebSocket, text: str, fmt: str, rate: int, fault: str) -> bool:
        await self.first_byte(fault)
        pcm = voice_like(len(text) * MS_PER_CHAR / 1000, rate)
        data = ulaw_encode(pcm) if fmt.startswith("ulaw") else pcm.tobytes()
        step = rate // 5 * (1 if fmt.startswith("ulaw") else 2)
        for i in range(0, len(data), step):
            if fault == "disconnect" and i:
                await ws.close(code=1011, reason="emulated failure")
                return False
            chunk = {
                "audio": base64.b64encode(data[i : i + step]).decode(),
                "isFinal": False,
                "normalizedAlignment": None,
            }
            await ws.send_text(json.dumps(chunk))
            await asyncio.sleep(0)
        return True
