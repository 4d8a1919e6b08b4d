"""Deepgram Aura-2 text-to-speech: WebSocket `/v1/speak` per call, REST `/v1/speak` as the fallback.

Written from Deepgram's public docs (developers.deepgram.com: "Text to Speech Streaming" /v1/speak
WebSocket reference, "Flush", "Clear", "Close"; and the REST /v1/speak reference):

- connect to `{base}/v1/speak?model=aura-2-thalia-en&encoding=linear16&sample_rate=<8000|16000|24000>`
  with `Authorization: Token <key>`; one connection serves the whole call;
- send `{"type": "Speak", "text"}`, then `{"type": "Flush"}`; audio comes back as binary frames, then
  `{"type": "Flushed", "sequence_id"}`; `{"type": "Clear"}` drops queued text (answered by `Cleared`);
  `{"type": "Close"}` ends the connection;
- the pieces of a reply share the socket, in order (`speak_line`);
- REST: `POST {base}/v1/speak?model=..&encoding=linear16&sample_rate=..&container=none` with
  `{"text": ...}`; the body is the audio, streamed.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator
from urllib.parse import urlencode

from voicegrid.core.egress import DestinationError
from voicegrid.core.errors import HttpError
from voicegrid.core.http_client import HttpClient, HttpResponse
from voicegrid.media.session import Pcm
from voicegrid.providers.base import ProviderConfig, Usage
from voicegrid.providers.errors import (
    ProviderAuthError,
    ProviderConnectError,
    ProviderError,
    ProviderProtocolError,
    ProviderServerError,
    ProviderTimeout,
)
from voicegrid.providers.refusals import http_failure, status_error
from voicegrid.providers.tts.base import Pcm16, Tts
from voicegrid.providers.tts.speak_line import SpeakLine
from voicegrid.providers.ws import ClientConnection, closed_error, open_ws, websockets

DEFAULT_BASE = "https://api.deepgram.com"
REST_CONNECTIONS = 4  # a call's pieces said at once over REST (the socket is down)


class _Void(Exception):
    """The piece's text went out on a socket whose audio it can no longer tell apart: say it by REST."""


class AuraTts(Tts):
    name = "deepgram"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._ws: ClientConnection | None = None
        self._line = SpeakLine()  # the order of the pieces on the socket
        self._ws_rate = 0
        self._connecting = asyncio.Lock()  # pieces asked for at once share one socket
        self._sending = asyncio.Lock()  # a piece's Speak and its Flush go out together
        self._rest: HttpClient | None = None  # kept for the call: no connection per piece

    def _query(self, sample_rate: int, rest: bool) -> str:
        query: dict[str, str | int] = {
            "model": self.config.model or "aura-2-thalia-en",
            "encoding": "linear16",
            "sample_rate": sample_rate,
        }
        if rest:
            query["container"] = "none"
        return urlencode(query)

    def _base(self, ws: bool) -> str:
        base = (self.config.base_url or DEFAULT_BASE).rstrip("/")
        if ws:
            return base.replace("https://", "wss://").replace("http://", "ws://")
        return base.replace("wss://", "https://").replace("ws://", "http://")

    def cancel(self) -> None:
        if self._ws is not None:
            self._line.void_outstanding()

    async def aclose(self) -> None:
        ws, self._ws = self._ws, None
        rest, self._rest = self._rest, None
        if ws is not None:
            with contextlib.suppress(websockets.ConnectionClosed, OSError):
                await ws.send(json.dumps({"type": "Close"}))
            await ws.close()
        if rest is not None:
            await rest.aclose()

    async def _synthesize(self, text: str, sample_rate: int, usage: Usage) -> AsyncGenerator[Pcm, None]:
        if not self.config.api_key:
            raise ProviderAuthError(self.name, "no API key")
        if self.config.option("transport") != "rest":
            try:
                ws: ClientConnection | None = await self._connection(sample_rate)
            except (ProviderConnectError, ProviderServerError, ProviderTimeout):
                ws = None  # the REST endpoint may still answer
            line = self._line
            ticket = line.take(asyncio.get_running_loop().time()) if ws is not None else None
            if ws is not None and ticket is not None:
                try:
                    async for pcm in self._over_ws(ws, line, ticket, text):
                        yield pcm
                    return
                except _Void:
                    pass
        async for pcm in self._over_rest(text, sample_rate):
            yield pcm

    async def _connection(self, sample_rate: int) -> ClientConnection:
        async with self._connecting:
            if self._ws is not None and self._ws_rate != sample_rate:
                await self.aclose()
            if self._ws is None:
                url = f"{self._base(True)}/v1/speak?{self._query(sample_rate, rest=False)}"
                headers = {"Authorization": f"Token {self.config.api_key}"}
                self._ws = await open_ws(
                    self.name, url, headers, self.config.connect_timeout_s, self.config.destinations
                )
                self._ws_rate, self._line = sample_rate, SpeakLine()
            return self._ws

    async def _over_ws(
        self, ws: ClientConnection, line: SpeakLine, ticket: int, text: str
    ) -> AsyncGenerator[Pcm, None]:
        samples, sent, whole = Pcm16(), False, False
        try:
            if line.may_send_early(ticket):  # the server starts on it while the piece before arrives
                await self._send_piece(ws, text)
                sent = True
            await line.turn(ticket)
            if sent and not line.valid(ticket):
                raise _Void
            if not sent:
                if line.must_clear():  # a piece before was given up: drop what the server still holds
                    await ws.send(json.dumps({"type": "Clear"}))
                    while not _is(await ws.recv(), "Cleared"):
                        pass
                await self._send_piece(ws, text)
                sent = True
                line.sent(ticket)
            while True:
                message = await ws.recv()
                if isinstance(message, bytes):
                    pcm = samples.feed(message)
                    if pcm is not None:
                        yield pcm
                    continue
                parsed = _parse(self.name, message)
                if parsed.get("type") == "Flushed":
                    whole = True
                    return
                if parsed.get("type") == "Error":
                    raise ProviderProtocolError(self.name, str(parsed.get("description") or parsed)[:200])
        except websockets.ConnectionClosed as exc:
            if self._ws is ws:
                self._ws = None
            raise closed_error(self.name, exc) from exc
        finally:
            line.finish(ticket, leftover=sent and not whole)

    async def _send_piece(self, ws: ClientConnection, text: str) -> None:
        async with self._sending:
            await ws.send(json.dumps({"type": "Speak", "text": text}))
            await ws.send(json.dumps({"type": "Flush"}))

    async def _over_rest(self, text: str, sample_rate: int) -> AsyncGenerator[Pcm, None]:
        url = f"{self._base(False)}/v1/speak?{self._query(sample_rate, rest=True)}"
        headers = {"Authorization": f"Token {self.config.api_key}", "Content-Type": "application/json"}
        if self._rest is None:
            self._rest = HttpClient(
                self.config.destinations,
                connect_timeout_s=self.config.connect_timeout_s,
                read_timeout_s=self.config.first_byte_timeout_s,
                max_connections=REST_CONNECTIONS,
                max_idle=1,
            )
        samples = Pcm16()
        response: HttpResponse | None = None
        started = False
        try:
            response = await self._rest.stream("POST", url, headers, json.dumps({"text": text}).encode())
            if response.status >= 400:
                raise await status_error(self.name, response)
            async for block in response:
                pcm = samples.feed(block)
                if pcm is not None:
                    started = True
                    yield pcm
        except (HttpError, DestinationError, TimeoutError) as exc:  # TimeoutError: the name's lookup
            raise http_failure(self.name, exc, started=started) from exc
        finally:
            if response is not None:
                await response.aclose()


def _parse(provider: str, message: str | bytes) -> dict[str, object]:
    try:
        parsed = json.loads(message)
    except ValueError as exc:
        raise ProviderProtocolError(provider, "unreadable message") from exc
    if not isinstance(parsed, dict):
        raise ProviderProtocolError(provider, "a message that is not an object")
    return parsed


def _is(message: str | bytes, kind: str) -> bool:
    if isinstance(message, bytes):
        return False
    try:
        return bool(json.loads(message).get("type") == kind)
    except (ValueError, AttributeError):
        return False


__all__ = ["AuraTts", "ProviderError"]
