"""The streaming LLM interface (OpenAI chat format), and failover across a list of providers.

`Llm.stream()` owns the first-token and between-chunk timeouts and the token usage; a provider
implements `_stream()`. Messages are OpenAI chat messages (dicts), the lingua franca of every
OpenAI-compatible server. `FallbackLlm` moves to the next provider when one fails before its first
token; after that, what was said stands and the failure ends the reply.
"""

import functools
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from voicegrid.providers.base import Failover, Meter, ProviderConfig, Usage, timed
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


class LlmStage(ABC):
    """What the pipeline holds for the LLM: something that streams a reply."""

    name = "llm"

    @property
    def served_by(self) -> str:
        """The provider that served the last request: a failover list names the one that answered."""
        return self.name

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @abstractmethod
    def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncIterator[LlmChunk]: ...


class Llm(LlmStage):
    """A provider: the base owns the timeouts and token usage; the provider implements `_stream`."""

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncIterator[LlmChunk]:
        usage = meter.line("llm", self.name, self.config.model)
        usage.requests += 1
        chunks = self._stream(messages, tools, usage)
        async for chunk in timed(chunks, self.config, self.name, usage, "token", _is_output):
            if isinstance(chunk, LlmUsage):
                usage.tokens_in += chunk.tokens_in
                usage.tokens_out += chunk.tokens_out
                usage.tokens_cached += chunk.tokens_cached
            yield chunk

    @abstractmethod
    def _stream(
        self, messages: list[Message], tools: list[ToolSpec], usage: Usage
    ) -> AsyncGenerator[LlmChunk, None]:
        """Yield text deltas, complete tool calls and (once) usage; raise ProviderError on failure."""


def _is_output(chunk: LlmChunk) -> bool:
    return not isinstance(chunk, LlmUsage)


class FallbackLlm(LlmStage):
    name = "fallback"

    def __init__(self, providers: list[LlmStage], on_error: ErrorSink | None = None) -> None:
        self.failover: Failover[Any] = Failover(
            "llm", [p.name for p in providers], on_error or (lambda stage, error: None)
        )
        super().__init__(providers[0].config)
        self.providers = providers

    @property
    def served_by(self) -> str:
        return self.failover.last_used or self.name

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncIterator[LlmChunk]:
        attempts = [functools.partial(p.stream, messages, tools, meter) for p in self.providers]
        async for chunk in self.failover.stream(attempts, _is_output):
            yield chunk
