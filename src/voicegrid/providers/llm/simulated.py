"""A simulated LLM for load and latency tests: scripted replies, sampled first-token latency.

Options: `replies` (one per turn, in order; a reply may be {"text": ..., "tools": [[name, args]]}),
`first_token_ms` / `first_token_jitter_ms`, `token_ms` (between tokens), `fail` ("connect", "auth",
"slow"), `seed`.
"""

import asyncio
import json
import random
from collections.abc import AsyncGenerator
from typing import Any

from voicegrid.providers.base import ProviderConfig, Usage, sample_latency_s
from voicegrid.providers.errors import ProviderAuthError, ProviderConnectError
from voicegrid.providers.llm.base import Llm, LlmChunk, LlmUsage, Message, TextDelta, ToolCall, ToolSpec


class SimulatedLlm(Llm):
    name = "simulated"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._replies: list[Any] = list(self.config.option("replies", []))
        self._rng = random.Random(self.config.option("seed", 2))

    async def _stream(
        self, messages: list[Message], tools: list[ToolSpec], usage: Usage
    ) -> AsyncGenerator[LlmChunk, None]:
        fail = self.config.option("fail")
        if fail == "connect":
            raise ProviderConnectError(self.name, "connection refused (simulated)")
        if fail == "auth":
            raise ProviderAuthError(self.name, "invalid API key (simulated)", status=401)
        if messages and messages[-1].get("role") == "tool":
            reply: Any = self.config.option("after_tool", "")
        else:
            reply = self._replies.pop(0) if self._replies else "Okay."
        text = reply if isinstance(reply, str) else str(reply.get("text", ""))
        calls = [] if isinstance(reply, str) else list(reply.get("tools", []))
        await asyncio.sleep(sample_latency_s(self.config.options, "first_token", 400.0, self._rng))
        if fail == "slow":
            await asyncio.sleep(3600)
        token_s = float(self.config.option("token_ms", 10)) / 1000
        for i, word in enumerate(text.split(" ") if text else []):
            if i:
                await asyncio.sleep(token_s)
            yield TextDelta(word if i == 0 else " " + word)
        for n, (name, args) in enumerate(calls):
            yield ToolCall(f"sim_{n}", name, args if isinstance(args, str) else json.dumps(args))
        prompt = sum(len(str(m.get("content") or "")) for m in messages)
        yield LlmUsage(tokens_in=prompt // 4, tokens_out=max(1, len(text) // 4))
