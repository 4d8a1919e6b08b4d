"""LLMs through the `openai` SDK with a configurable `base_url`: OpenAI, Groq, vLLM, Ollama, llama.cpp.

Chat Completions with `stream=True` and `stream_options={"include_usage": true}` (OpenAI API
reference, "Create chat completion" and "The chat completion chunk object"): text arrives in
`choices[0].delta.content`, tool calls in `delta.tool_calls` as fragments keyed by `index` (id and
name first, then pieces of `arguments`), and the last chunk carries `usage` with
`prompt_tokens_details.cached_tokens`. The SDK's own retries are off: failover is ours.
"""

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import httpx2
import openai

from voicegrid.core.egress import DestinationError, Destinations
from voicegrid.core.pinned import pin_request
from voicegrid.providers.base import Usage
from voicegrid.providers.errors import (
    ProviderAuthError,
    ProviderClosed,
    ProviderConnectError,
    ProviderError,
    ProviderProtocolError,
    ProviderTimeout,
    for_status,
)
from voicegrid.providers.llm.base import Llm, LlmChunk, LlmUsage, Message, TextDelta, ToolCall, ToolSpec

# One client per account (key, endpoint, timeouts) and event loop: calls share its connection pool,
# so a turn reuses a warm connection, and no call pays for a client's TLS context (~8 ms of CPU).
# A pool belongs to the loop that opened its connections, hence the loop in the key.
_ClientKey = tuple[asyncio.AbstractEventLoop, str, str | None, float, float, Destinations]
_CLIENTS: dict[_ClientKey, openai.AsyncOpenAI] = {}
MAX_CLIENTS = 256


class _PinnedTransport(httpx2.AsyncBaseTransport):
    """The SDK's requests go to the address the destination policy checked (see core.pinned)."""

    def __init__(self, policy: Destinations) -> None:
        self.policy = policy
        self.inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await pin_request(self.policy, request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def shared_client(
    api_key: str, base_url: str | None, idle_s: float, connect_s: float, destinations: Destinations
) -> openai.AsyncOpenAI:
    """Its requests (and any redirect) reach only what the destination policy allows, as checked."""
    loop = asyncio.get_running_loop()
    key = (loop, api_key, base_url, idle_s, connect_s, destinations)
    client = _CLIENTS.get(key)
    if client is None:
        for gone in [k for k in _CLIENTS if k[0].is_closed()]:
            del _CLIENTS[gone]
        if len(_CLIENTS) >= MAX_CLIENTS:  # accounts come and go; the oldest is dropped, its pool with it
            _CLIENTS.pop(next(iter(_CLIENTS)))
        client = _CLIENTS[key] = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=openai.Timeout(idle_s, connect=connect_s),
            max_retries=0,
            http_client=httpx2.AsyncClient(
                transport=_PinnedTransport(destinations),
                trust_env=False,
                timeout=openai.Timeout(idle_s, connect=connect_s),
            ),
        )
    return client


def map_error(provider: str, exc: openai.OpenAIError) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(provider, "request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderConnectError(provider, f"cannot connect: {exc}")
    if isinstance(exc, openai.APIStatusError):
        return for_status(provider, exc.status_code, f"HTTP {exc.status_code}: {str(exc.message)[:200]}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderProtocolError(provider, "unreadable response")
    return ProviderClosed(provider, f"stream failed: {type(exc).__name__}")


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
        self._client: openai.AsyncOpenAI | None = None

    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = shared_client(
                self.config.api_key or "none",
                self.config.base_url,
                self.config.idle_timeout_s,
                self.config.connect_timeout_s,
                self.config.destinations,
            )
        return self._client

    async def _stream(
        self, messages: list[Message], tools: list[ToolSpec], usage: Usage
    ) -> AsyncGenerator[LlmChunk, None]:
        if self.config.provider == "openai" and not self.config.api_key and not self.config.base_url:
            raise ProviderAuthError(self.name, "no API key")
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
        calls: dict[int, dict[str, str]] = {}
        started = False
        try:
            # The SDK's low-level post: its transport, auth and errors, without re-validating our own
            # request (its recursive typed-dict transform of the whole history took ~7% of a busy
            # worker) and with each chunk left as the JSON it came as, read by `read_chunk` below.
            stream = await self.client().post(
                "/chat/completions",
                body=params,
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            async for chunk in stream:
                for item in read_chunk(self.name, chunk):
                    if isinstance(item, tuple):  # a piece of a tool call: whole ones go out at the end
                        index, call_id, name, arguments = item
                        slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call_id or slot["id"]
                        slot["name"] += name
                        slot["arguments"] += arguments
                    else:
                        started = started or isinstance(item, TextDelta)
                        yield item
        except openai.APIConnectionError as exc:
            if started:  # the connection dropped mid-answer
                raise ProviderClosed(self.name, "stream cut off mid-answer") from exc
            raise map_error(self.name, exc) from exc
        except openai.OpenAIError as exc:
            raise map_error(self.name, exc) from exc
        except DestinationError as exc:
            raise ProviderConnectError(self.name, f"endpoint not allowed: {exc.reason}") from exc
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(call["id"] or f"call_{index}", call["name"], call["arguments"])
