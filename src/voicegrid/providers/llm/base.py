"""The streaming LLM interface (OpenAI chat format), and failover across a list of providers.

`Llm.stream()` owns the first-token and between-chunk timeouts and the token usage; a provider
implements `_stream()`. Messages are OpenAI chat messages (dicts), the lingua franca of every
OpenAI-compatible server. `FallbackLlm` moves to the next provider when one fails before its first
token; after that, what was said stands and the failure ends the reply.
"""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from voicegrid.providers.base import Meter, ProviderConfig, Usage
from voicegrid.providers.errors import ProviderError, ProviderTimeout
from voicegrid.providers.stt.base import ErrorSink

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text as the model wrote it; may be invalid


@dataclass(frozen=True, slots=True)
class LlmUsage:
    tokens_in: int
    tokens_out: int
    tokens_cached: int = 0


LlmChunk = TextDelta | ToolCall | LlmUsage


class Llm(ABC):
    name = "llm"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncIterator[LlmChunk]:
        usage = meter.line("llm", self.name, self.config.model)
        usage.requests += 1
        chunks = self._stream(messages, tools, usage)
        first = True
        try:
            while True:
                limit = self.config.first_byte_timeout_s if first else self.config.idle_timeout_s
                try:
                    async with asyncio.timeout(limit):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    what = "first token" if first else "next token"
                    raise ProviderTimeout(self.name, f"no {what} within {limit:.1f} s") from exc
                if isinstance(chunk, LlmUsage):
                    usage.tokens_in += chunk.tokens_in
                    usage.tokens_out += chunk.tokens_out
                    usage.tokens_cached += chunk.tokens_cached
                else:
                    first = False
                yield chunk
        except ProviderError:
            usage.errors += 1
            raise
        finally:
            await chunks.aclose()

    @abstractmethod
    def _stream(
        self, messages: list[Message], tools: list[ToolSpec], usage: Usage
    ) -> AsyncGenerator[LlmChunk, None]:
        """Yield text deltas, complete tool calls and (once) usage; raise ProviderError on failure."""


class FallbackLlm(Llm):
    name = "fallback"

    def __init__(self, providers: list[Llm], on_error: ErrorSink | None = None) -> None:
        if not providers:
            raise ValueError("a fallback list needs at least one provider")
        super().__init__(providers[0].config)
        self.providers = providers
        self.on_error = on_error or (lambda stage, error: None)
        self.last_used: str | None = None

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncIterator[LlmChunk]:
        error: ProviderError | None = None
        for provider in self.providers:
            started = False
            try:
                async for chunk in provider.stream(messages, tools, meter):
                    if not isinstance(chunk, LlmUsage):
                        started = True
                        self.last_used = provider.name
                    yield chunk
                return
            except ProviderError as exc:
                self.on_error("llm", exc)
                if started:
                    raise
                error = exc
        assert error is not None
        raise error

    def _stream(
        self, messages: list[Message], tools: list[ToolSpec], usage: Usage
    ) -> AsyncGenerator[LlmChunk, None]:  # pragma: no cover - stream() is overridden
        raise NotImplementedError
