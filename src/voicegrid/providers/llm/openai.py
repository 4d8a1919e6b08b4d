"""LLMs over OpenAI's Chat Completions wire format with a configurable `base_url`: OpenAI, Groq, vLLM,
Ollama, llama.cpp.

`POST {base_url}/chat/completions` with `Authorization: Bearer <key>`, `stream: true` and
`stream_options.include_usage` (OpenAI API reference, "Create chat completion" and "The chat
completion chunk object"). The answer is server-sent events, one `data: <chunk JSON>` each, ending
with `data: [DONE]`: text arrives in `choices[0].delta.content`, tool calls in `delta.tool_calls` as
fragments keyed by `index` (id and name first, then pieces of `arguments`), and the last chunk
carries `usage` with `prompt_tokens_details.cached_tokens`. Errors are a status with
`{"error": {"message": ...}}`. No retries here: failover is ours.

Our own client, not the `openai` SDK: the SDK (and its own HTTP stack) took about 40 MB and most of a
second of every node's start, for one POST and an event stream. Over our own HTTP/1.1 client
(`core.http_client`), not httpx: httpx's pool cost milliseconds of CPU a turn (see there).
"""

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson

from voicegrid.core.egress import DestinationError, Destinations
from voicegrid.core.errors import HttpError
from voicegrid.core.http_client import HttpClient, HttpResponse
from voicegrid.providers.base import Usage
from voicegrid.providers.errors import (
    ProviderAuthError,
    ProviderClosed,
    ProviderProtocolError,
)
from voicegrid.providers.llm.base import Llm, LlmChunk, LlmUsage, Message, TextDelta, ToolCall, ToolSpec
from voicegrid.providers.llm.sse import EventStream
from voicegrid.providers.refusals import http_failure, status_error

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# What is read past `[DONE]` (the body's last chunk, normally a few bytes), and for how long: a
# response read to its end gives its connection back to the pool; one closed before its end closes
# the connection, and the next turn paid a new TCP and TLS handshake before its first token.
MAX_TAIL_BYTES, TAIL_S = 16 * 1024, 1.0
# An answer's text and tool calls, whatever the server sends (an endpoint is a tenant's to name, and
# may never stop): a spoken answer past this many characters is minutes of speech.
MAX_ANSWER_CHARS = 32 * 1024
MAX_TOOL_CALLS, MAX_TOOL_CALL_CHARS = 16, 64 * 1024

# One client per account (endpoint policy, timeouts) and event loop: calls share its connection pool,
# so a turn reuses a warm connection, and no call pays for a client's TLS context (~8 ms of CPU).
# A pool belongs to the loop that opened its connections, hence the loop in the key.
_ClientKey = tuple[asyncio.AbstractEventLoop, float, float, Destinations]
_CLIENTS: dict[_ClientKey, HttpClient] = {}
MAX_CLIENTS = 256
# Hundreds of calls share an account: enough kept-alive connections that a turn rarely opens one.
MAX_CONNECTIONS, MAX_KEPT = 1000, 256


def shared_client(idle_s: float, connect_s: float, destinations: Destinations) -> HttpClient:
    """Its requests reach only what the destination policy allows, as checked; it follows no redirect."""
    loop = asyncio.get_running_loop()
    key = (loop, idle_s, connect_s, destinations)
    client = _CLIENTS.get(key)
    if client is None:
        for gone in [k for k in _CLIENTS if k[0].is_closed()]:
            del _CLIENTS[gone]
        if len(_CLIENTS) >= MAX_CLIENTS:  # accounts come and go; the oldest is dropped, its pool with it
            _CLIENTS.pop(next(iter(_CLIENTS)))
        client = _CLIENTS[key] = HttpClient(
            destinations,
            connect_timeout_s=connect_s,
            read_timeout_s=idle_s,
            max_connections=MAX_CONNECTIONS,
            max_idle=MAX_KEPT,
        )
    return client


ToolFragment = tuple[int, str, str, str]  # index, id, name piece, arguments piece


def read_chunk(provider: str, chunk: object) -> list[TextDelta | LlmUsage | ToolFragment]:
    """What one `chat.completion.chunk` carries; ProviderProtocolError for a chunk of another shape."""
    if not isinstance(chunk, dict):
        raise ProviderProtocolError(provider, "a stream chunk that is not a JSON object")
    try:
        out: list[TextDelta | LlmUsage | ToolFragment] = []
        usage = chunk.get("usage")
        if usage:
            details = usage.get("prompt_tokens_details") or {}
            out.append(
                LlmUsage(
                    int(usage.get("prompt_tokens") or 0),
                    int(usage.get("completion_tokens") or 0),
                    int(details.get("cached_tokens") or 0),
                )
            )
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content is not None and not isinstance(content, str):
                raise TypeError("content is not text")
            if content:
                out.append(TextDelta(content))
            for fragment in delta.get("tool_calls") or []:
                function = fragment.get("function") or {}
                out.append(
                    (
                        int(fragment.get("index") or 0),
                        str(fragment.get("id") or ""),
                        str(function.get("name") or ""),
                        str(function.get("arguments") or ""),
                    )
                )
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise ProviderProtocolError(provider, f"a stream chunk of an unexpected shape: {exc}") from exc
    return out


class OpenAiLlm(Llm):
    name = "openai"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = self.config.provider
        self._client: HttpClient | None = None

    def client(self) -> HttpClient:
        if self._client is None:
            self._client = shared_client(
                self.config.idle_timeout_s, self.config.connect_timeout_s, self.config.destinations
            )
        return self._client

    def _request(self, messages: list[Message], tools: list[ToolSpec]) -> tuple[str, dict[str, str], bytes]:
        params: dict[str, Any] = {
            "model": self.config.model or "gpt-4o-mini",
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": float(self.config.option("temperature", 0.3)),
        }
        if tools:
            params["tools"] = [t.openai() for t in tools]
        if "max_tokens" in self.config.options:
            params["max_tokens"] = int(self.config.options["max_tokens"])
        if (
            "response_format" in self.config.options
        ):  # set by the platform (post-call analysis), never by tenants
            params["response_format"] = self.config.options["response_format"]
        base = (self.config.base_url or DEFAULT_BASE_URL).rstrip("/")
        headers = {
            "Authorization": f"Bearer {self.config.api_key or 'none'}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        return base + "/chat/completions", headers, orjson.dumps(params)

    async def _stream(
        self, messages: list[Message], tools: list[ToolSpec], usage: Usage
    ) -> AsyncGenerator[LlmChunk, None]:
        if self.config.provider == "openai" and not self.config.api_key and not self.config.base_url:
            raise ProviderAuthError(self.name, "no API key")
        calls: dict[int, dict[str, str]] = {}
        started, said = False, 0
        url, headers, body = self._request(messages, tools)
        response: HttpResponse | None = None
        try:
            response = await self.client().stream("POST", url, headers, body)
            if response.status >= 400:
                raise await status_error(self.name, response)
            events = EventStream(self.name)
            done = False
            async for block in response:
                for data in events.feed(block):
                    if data == b"[DONE]":
                        done = True
                        break
                    for item in read_chunk(self.name, parse_chunk(self.name, data)):
                        if isinstance(item, tuple):  # a piece of a tool call: whole ones go out at the end
                            _add_fragment(self.name, calls, item)
                        else:
                            if isinstance(item, TextDelta):
                                started, said = True, said + len(item.text)
                                if said > MAX_ANSWER_CHARS:
                                    raise ProviderProtocolError(self.name, "an answer over the size cap")
                            yield item
                if done:
                    await read_tail(response)
                    break
        except (HttpError, DestinationError, TimeoutError) as exc:  # TimeoutError: the name's lookup
            raise http_failure(self.name, exc, started=started) from exc
        finally:
            if response is not None:
                await response.aclose()
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(call["id"] or f"call_{index}", call["name"], call["arguments"])


def _add_fragment(provider: str, calls: dict[int, dict[str, str]], fragment: ToolFragment) -> None:
    """A piece of a tool call into its call, within the caps on how many calls and how long each."""
    index, call_id, name, arguments = fragment
    if not 0 <= index < MAX_TOOL_CALLS:
        raise ProviderProtocolError(provider, f"a tool call index out of 0-{MAX_TOOL_CALLS - 1}")
    slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    slot["id"] = call_id or slot["id"]
    slot["name"] += name
    slot["arguments"] += arguments
    if len(slot["id"]) + len(slot["name"]) + len(slot["arguments"]) > MAX_TOOL_CALL_CHARS:
        raise ProviderProtocolError(provider, "a tool call over the size cap")


async def read_tail(blocks: AsyncIterator[bytes]) -> None:
    """Read a finished answer's body to its end, bounded, so that its connection can be kept."""
    left = MAX_TAIL_BYTES
    with contextlib.suppress(HttpError, TimeoutError):
        async with asyncio.timeout(TAIL_S):
            async for block in blocks:
                left -= len(block)
                if left < 0:
                    return  # a server that goes on after [DONE]: its connection is closed, not kept


def parse_chunk(provider: str, data: bytes) -> object:
    """One event's chunk; an error object in the stream (the API's way to fail mid-answer) ends it."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProviderProtocolError(provider, "a stream chunk that is not JSON") from exc
    if isinstance(chunk, dict) and chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise ProviderClosed(provider, f"error in the stream: {str(message)[:200]}")
    return chunk
