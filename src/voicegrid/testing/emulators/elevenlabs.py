"""An emulator of ElevenLabs' multi-context WebSocket TTS (`/v1/text-to-speech/{voice}/multi-stream-input`).

It follows the ElevenLabs API reference ("Multi-Context WebSocket"): the `xi-api-key` header,
`model_id`, `output_format` (`pcm_16000`, `pcm_8000`, `ulaw_8000`) and `inactivity_timeout` in the
query; messages `{"text", "context_id", "voice_settings"?, "flush"?}`, `{"context_id",
"close_context": true}` and `{"close_socket": true}`; answers `{"audio": <base64>, "contextId"}` and,
once a closed context's audio is out, `{"isFinal": true, "contextId"}`. As the service does: bad
credentials get an error message and a close with code 1008; a sixth open context, an error and a
close with 1008; a connection with no message for `inactivity_timeout` seconds (at most `max_idle_s`
here, for tests) is closed; `drop_first_after` closes the first connection as a message comes,
before any audio, as a restarting server would. One context is said at a time, in the order its messages came.
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
MAX_CONTEXTS = 5


class ElevenLabsEmulator(Emulator):
    def __init__(
        self, *, max_idle_s: float = 180.0, drop_first_after: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_idle_s = max_idle_s
        self.drop_first_after = drop_first_after  # the first connection goes after that many messages
        self.app.router.routes.append(
            WebSocketRoute("/v1/text-to-speech/{voice}/multi-stream-input", self.multi_stream_input)
        )
        self.messages: list[dict[str, Any]] = []
        self.errors: list[str] = []  # what it refused, as it told the client
        self.connected = 0  # connections open now
        self.none_open = asyncio.Event()  # set while `connected` is 0
        self.none_open.set()

    async def multi_stream_input(self, ws: WebSocket) -> None:
        self.requests += 1
        self.connected += 1
        self.none_open.clear()
        try:
            await self._serve(ws)
        finally:
            self.connected -= 1
            if not self.connected:
                self.none_open.set()

    async def _serve(self, ws: WebSocket) -> None:
        fault = self.faults.next()
        if await self.ws_refuse(ws, fault, True):
            return
        await ws.accept()
        if ws.headers.get("xi-api-key") != self.api_key:
            await self._refuse(ws, "Invalid API key", "invalid_api_key")
            return
        fmt = ws.query_params.get("output_format", "pcm_16000")
        rate = int(fmt.rsplit("_", 1)[-1])
        idle_s = min(float(ws.query_params.get("inactivity_timeout", 20)), self.max_idle_s)
        texts: dict[str, list[str]] = {}  # the open contexts and their text not yet said
        try:
            while True:
                try:
                    async with asyncio.timeout(idle_s):
                        message = json.loads(await ws.receive_text())
                except TimeoutError:
                    await ws.close(code=1000, reason="inactivity timeout")
                    return
                self.messages.append(message)
                if self.requests == 1 and len(self.messages) == self.drop_first_after:
                    await ws.close(code=1001, reason="going away")  # a restart, as a piece is sent
                    return
                if message.get("close_socket"):
                    await ws.close()
                    return
                context = str(message.get("context_id", ""))
                if context not in texts:
                    if len(texts) >= MAX_CONTEXTS:
                        await self._refuse(
                            ws, "Maximum simultaneous contexts exceeded", "max_active_conversations"
                        )
                        return
                    texts[context] = []
                piece = str(message.get("text", "")).strip()
                if piece:
                    texts[context].append(piece)
                closing = bool(message.get("close_context"))
                if (message.get("flush") or closing) and texts[context]:
                    if not await self._speak(ws, context, " ".join(texts[context]), fmt, rate, fault):
                        return
                    texts[context] = []
                if closing:
                    del texts[context]
                    await ws.send_text(json.dumps({"isFinal": True, "contextId": context}))
        except WebSocketDisconnect:
            pass

    async def _refuse(self, ws: WebSocket, message: str, error: str) -> None:
        self.errors.append(error)
        await ws.send_text(json.dumps({"message": message, "error": error, "code": 1008}))
        await ws.close(code=1008, reason=error)

    async def _speak(self, ws: WebSocket, context: str, text: str, fmt: str, rate: int, fault: str) -> bool:
        await self.first_byte(fault)
        pcm = voice_like(len(text) * MS_PER_CHAR / 1000, rate)
        data = ulaw_encode(pcm) if fmt.startswith("ulaw") else pcm.tobytes()
        step = rate // 5 * (1 if fmt.startswith("ulaw") else 2)
        for i in range(0, len(data), step):
            if fault == "disconnect" and i:
                await ws.close(code=1011, reason="emulated failure")
                return False
            chunk = {"audio": base64.b64encode(data[i : i + step]).decode(), "contextId": context}
            await ws.send_text(json.dumps(chunk))
            await asyncio.sleep(0)
        return True
