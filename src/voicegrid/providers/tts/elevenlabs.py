"""ElevenLabs text-to-speech over the WebSocket stream-input API.

Written from the ElevenLabs API reference (elevenlabs.io/docs/api-reference/websocket, "WebSocket"
/v1/text-to-speech/:voice_id/stream-input):

- connect to `{base}/v1/text-to-speech/{voice_id}/stream-input?model_id=eleven_flash_v2_5
  &output_format=<ulaw_8000|pcm_16000>` with the `xi-api-key` header;
- send `{"text": " ", "voice_settings": {...}}` to open, then `{"text": "<sentence> ", "flush": true}`,
  then `{"text": ""}` to close;
- receive `{"audio": "<base64>", "isFinal": false, ...}` messages, then `{"isFinal": true}`; a failure
  arrives as a message with `error` / `message`, or a close with code 1008 (auth) or 1011.

Model ids: `eleven_flash_v2_5` (default), `eleven_turbo_v2_5`, `eleven_multilingual_v2`.
"""

import base64
import binascii
import contextlib
import json
from collections.abc import AsyncGenerator
from urllib.parse import quote, urlencode

from voicegrid.media.g711 import ulaw_decode
from voicegrid.media.session import Pcm
from voicegrid.providers.base import Usage
from voicegrid.providers.errors import ProviderAuthError, ProviderProtocolError
from voicegrid.providers.tts.base import Pcm16, Tts
from voicegrid.providers.ws import closed_error, open_ws, websockets

DEFAULT_BASE = "wss://api.elevenlabs.io"
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"
MODELS = ("eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2")


class ElevenLabsTts(Tts):
    name = "elevenlabs"

    async def _synthesize(self, text: str, sample_rate: int, usage: Usage) -> AsyncGenerator[Pcm, None]:
        if not self.config.api_key:
            raise ProviderAuthError(self.name, "no API key")
        fmt = "ulaw_8000" if sample_rate == 8000 else "pcm_16000"
        if sample_rate not in (8000, 16000):
            raise ProviderProtocolError(self.name, f"no output format at {sample_rate} Hz")
        base = (self.config.base_url or DEFAULT_BASE).rstrip("/").replace("https://", "wss://")
        base = base.replace("http://", "ws://")
        voice = quote(str(self.config.option("voice_id") or DEFAULT_VOICE), safe="")
        query = urlencode({"model_id": self.config.model or MODELS[0], "output_format": fmt})
        ws = await open_ws(
            self.name,
            f"{base}/v1/text-to-speech/{voice}/stream-input?{query}",
            {"xi-api-key": self.config.api_key},
            self.config.connect_timeout_s,
            self.config.destinations,
        )
        samples = Pcm16()
        try:
            await ws.send(
                json.dumps({"text": " ", "voice_settings": {"stability": 0.5, "similarity_boost": 0.8}})
            )
            await ws.send(json.dumps({"text": text.strip() + " ", "flush": True}))
            await ws.send(json.dumps({"text": ""}))
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError as exc:
                    raise ProviderProtocolError(self.name, "unreadable message") from exc
                if not isinstance(message, dict):
                    raise ProviderProtocolError(self.name, "a message that is not an object")
                if message.get("error") or (message.get("message") and "audio" not in message):
                    raise ProviderProtocolError(
                        self.name, str(message.get("message") or message.get("error"))[:200]
                    )
                if message.get("audio"):
                    try:
                        data = base64.b64decode(message["audio"], validate=True)
                    except (binascii.Error, TypeError) as exc:
                        raise ProviderProtocolError(self.name, "audio that is not base64") from exc
                    if fmt == "ulaw_8000":
                        yield ulaw_decode(data)
                    else:
                        pcm = samples.feed(data)
                        if pcm is not None:
                            yield pcm
                if message.get("isFinal"):
                    return
        except websockets.ConnectionClosedOK:
            return
        except websockets.ConnectionClosed as exc:
            raise closed_error(self.name, exc) from exc
        finally:
            with contextlib.suppress(websockets.ConnectionClosed, OSError):
                await ws.close()
