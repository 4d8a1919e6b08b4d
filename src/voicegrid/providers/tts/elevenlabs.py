"""ElevenLabs text-to-speech over the multi-context WebSocket: one connection for the whole call.

Written from the ElevenLabs API reference (elevenlabs.io/docs/api-reference/text-to-speech/
v-1-text-to-speech-voice-id-multi-stream-input, "Multi-Context WebSocket", and its guide):

- connect to `{base}/v1/text-to-speech/{voice_id}/multi-stream-input?model_id=eleven_flash_v2_5
  &output_format=<ulaw_8000|pcm_16000>&inactivity_timeout=180` with the `xi-api-key` header;
- each piece of a reply is a context of its own: `{"text": " ", "voice_settings", "context_id"}`
  opens it, `{"text": "<piece> ", "context_id", "flush": true}` gives its text, and
  `{"context_id", "close_context": true}` closes it once its audio is out;
- audio arrives as `{"audio": "<base64>", "contextId"}`, then `{"isFinal": true, "contextId"}`; a
  failure arrives as a message with `error` / `message`, or a close (1008: credentials);
- a connection holds at most 5 contexts; `{"close_socket": true}` ends it.

The stream-input endpoint used before took a connection (TCP, TLS and WebSocket handshakes) for
each piece of each reply, all before its first byte of audio. A piece given up before its end
(barge-in) leaves its context to finish on the server, and what still comes for it is dropped;
such contexts count towards the five, and at the limit the call's connection is replaced (it
finishes the pieces it is saying, then closes). A piece that finds its connection closed (the
server closes one idle past `inactivity_timeout`) before any of its audio came is sent again on a
new one, once.

Model ids: `eleven_flash_v2_5` (default), `eleven_turbo_v2_5`, `eleven_multilingual_v2`.
"""

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
from collections.abc import AsyncGenerator
from urllib.parse import quote, urlencode

from voicegrid.media.g711 import ulaw_decode
from voicegrid.media.session import Pcm
from voicegrid.providers.base import ProviderConfig, Usage
from voicegrid.providers.errors import (
    ProviderAuthError,
    ProviderClosed,
    ProviderError,
    ProviderProtocolError,
)
from voicegrid.providers.tts.base import Pcm16, Tts
from voicegrid.providers.ws import ClientConnection, closed_error, open_ws, websockets

DEFAULT_BASE = "wss://api.elevenlabs.io"
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"
MODELS = ("eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2")
VOICE_SETTINGS = {"stability": 0.5, "similarity_boost": 0.8}
MAX_CONTEXTS = 5  # ElevenLabs' limit per connection
INACTIVITY_S = 180  # the longest the API keeps an idle connection: a caller may pause between turns
# Audio of one piece read off the socket and not yet taken: the reader does not wait for the piece,
# so this bounds what a server may make us hold (a piece's audio is a few hundred KB).
MAX_WAITING_BYTES = 8 * 1024 * 1024
RETIRE_S = 30.0  # how long a replaced connection may go on saying the pieces it has, at most

_Item = bytes | ProviderError | None  # audio, a failure, or the piece's end


class _Audio(asyncio.Queue[_Item]):
    """What came for one piece and is not yet taken; `waiting` counts its audio bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0


class _Socket:
    """One multi-context connection, and the task that reads it and sorts its messages by context."""

    def __init__(self, provider: str, ws: ClientConnection, fmt: str) -> None:
        self.provider = provider
        self.ws = ws
        self.fmt = fmt
        self.pieces: dict[str, _Audio] = {}  # contexts whose piece is being said
        self.dropped: set[str] = set()  # contexts given up before their end, not yet final
        self.failure: ProviderError | None = None
        self._settled = asyncio.Event()  # a piece left `pieces`
        self.reader = asyncio.get_running_loop().create_task(self._read(), name="elevenlabs-socket")

    def usable(self, fmt: str) -> bool:
        return (
            self.failure is None and self.fmt == fmt and len(self.pieces) + len(self.dropped) < MAX_CONTEXTS
        )

    def open(self, context: str) -> _Audio:
        queue = _Audio()
        if self.failure is not None:
            queue.put_nowait(self.failure)
        else:
            self.pieces[context] = queue
        return queue

    def drop(self, context: str) -> None:
        """The piece is over for us: anything more that comes for its context is dropped."""
        if self.pieces.pop(context, None) is not None:
            self._settled.set()
            if self.failure is None:
                self.dropped.add(context)

    async def send(self, message: dict[str, object]) -> None:
        try:
            await self.ws.send(json.dumps(message))
        except websockets.ConnectionClosed as exc:
            self._fail(closed_error(self.provider, exc))

    async def retire(self) -> None:
        """Out of use: the pieces it is saying finish (for at most RETIRE_S), then it closes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RETIRE_S):
                while self.pieces:
                    self._settled.clear()
                    await self._settled.wait()
        await self.close()

    async def close(self) -> None:
        """Idempotent. Its messages go out before it waits for the close handshake: a close cut
        short there still ends the connection (the server closes it on `close_socket`)."""
        self._fail(ProviderClosed(self.provider, "connection closed by the client"))
        self.reader.cancel()
        with contextlib.suppress(websockets.ConnectionClosed, OSError):
            await self.ws.send(json.dumps({"close_socket": True}))
        await self.ws.close()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._route(raw)
            self._fail(ProviderClosed(self.provider, "connection closed"))
        except websockets.ConnectionClosed as exc:
            self._fail(closed_error(self.provider, exc))
        except ProviderError as exc:  # a message that fails the whole connection
            self._fail(exc)
            await self.ws.close()

    def _route(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError as exc:
            raise ProviderProtocolError(self.provider, "unreadable message") from exc
        if not isinstance(message, dict):
            raise ProviderProtocolError(self.provider, "a message that is not an object")
        context = message.get("contextId")
        queue = self.pieces.get(context) if isinstance(context, str) else None
        if message.get("error") or (message.get("message") and "audio" not in message):
            error = ProviderProtocolError(
                self.provider, str(message.get("message") or message.get("error"))[:200]
            )
            if queue is None:
                raise error
            self._end(str(context), error)
            return
        if message.get("audio") and queue is not None:
            try:
                audio = base64.b64decode(message["audio"], validate=True)
            except (binascii.Error, TypeError):
                self._end(str(context), ProviderProtocolError(self.provider, "audio that is not base64"))
                return
            queue.waiting += len(audio)
            queue.put_nowait(audio)
            if queue.waiting > MAX_WAITING_BYTES:
                self._end(str(context), ProviderProtocolError(self.provider, "more audio than a piece holds"))
                return
        if message.get("isFinal") and isinstance(context, str):
            self.dropped.discard(context)
            if queue is not None:
                del self.pieces[context]
                self._settled.set()
                queue.put_nowait(None)

    def _end(self, context: str, error: ProviderError) -> None:
        self.pieces[context].put_nowait(error)
        self.drop(context)

    def _fail(self, error: ProviderError) -> None:
        if self.failure is None:
            self.failure = error
        for queue in self.pieces.values():
            queue.put_nowait(error)
        self.pieces.clear()
        self.dropped.clear()
        self._settled.set()


class ElevenLabsTts(Tts):
    name = "elevenlabs"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._socket: _Socket | None = None
        self._connecting = asyncio.Lock()  # pieces asked for at once share one connection
        self._contexts = itertools.count(1)
        self._retiring: dict[asyncio.Task[None], _Socket] = {}  # replaced, finishing their pieces

    async def aclose(self) -> None:
        """The call is over: every connection closes now, replaced ones included (their pieces too)."""
        sockets = [] if self._socket is None else [self._socket]
        self._socket = None
        for task, retiring in self._retiring.items():
            task.cancel()
            sockets.append(retiring)
        self._retiring.clear()
        await asyncio.gather(*(socket.close() for socket in sockets))

    async def _synthesize(self, text: str, sample_rate: int, usage: Usage) -> AsyncGenerator[Pcm, None]:
        if not self.config.api_key:
            raise ProviderAuthError(self.name, "no API key")
        if sample_rate not in (8000, 16000):
            raise ProviderProtocolError(self.name, f"no output format at {sample_rate} Hz")
        fmt = "ulaw_8000" if sample_rate == 8000 else "pcm_16000"
        for attempt in (1, 2):
            socket = await self._connection(fmt)
            context = f"piece-{next(self._contexts)}"
            queue = socket.open(context)
            heard, samples = False, Pcm16()
            try:
                await socket.send({"text": " ", "voice_settings": VOICE_SETTINGS, "context_id": context})
                await socket.send({"text": text.strip() + " ", "context_id": context, "flush": True})
                await socket.send({"context_id": context, "close_context": True})
                while (item := await queue.get()) is not None:
                    if isinstance(item, ProviderError):
                        raise item
                    heard, queue.waiting = True, queue.waiting - len(item)
                    pcm = ulaw_decode(item) if fmt == "ulaw_8000" else samples.feed(item)
                    if pcm is not None:
                        yield pcm
                return
            except ProviderClosed:
                if heard or attempt == 2:
                    raise  # audio had started: the piece is cut, not said twice
            finally:
                socket.drop(context)

    async def _connection(self, fmt: str) -> _Socket:
        async with self._connecting:
            socket = self._socket
            if socket is not None and socket.usable(fmt):
                return socket
            self._socket = None
            if socket is not None:  # it finishes what it is saying; this piece does not wait for it
                task = asyncio.get_running_loop().create_task(socket.retire(), name="elevenlabs-retire")
                self._retiring[task] = socket
                task.add_done_callback(lambda done: self._retiring.pop(done, None))
            base = (self.config.base_url or DEFAULT_BASE).rstrip("/").replace("https://", "wss://")
            base = base.replace("http://", "ws://")
            voice = quote(str(self.config.option("voice_id") or DEFAULT_VOICE), safe="")
            query = urlencode(
                {
                    "model_id": self.config.model or MODELS[0],
                    "output_format": fmt,
                    "inactivity_timeout": INACTIVITY_S,
                }
            )
            ws = await open_ws(
                self.name,
                f"{base}/v1/text-to-speech/{voice}/multi-stream-input?{query}",
                {"xi-api-key": self.config.api_key or ""},
                self.config.connect_timeout_s,
                self.config.destinations,
            )
            self._socket = _Socket(self.name, ws, fmt)
            return self._socket
