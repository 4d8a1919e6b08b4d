"""Per-turn gating: a TTS or LLM request first takes a slot of its provider account's fair pool.

If no slot frees up within the agent's wait, the request fails with `ProviderBusy` (retryable), and
the failover list moves on to the next provider in the same turn. A 429 from the provider halves our
view of the account's limit for a cool-down (multiplicative decrease); each quiet cool-down gives one
slot back (additive increase), up to the configured limit. Both are counted and reported.
"""

import contextlib
import hashlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from voicegrid.capacity.errors import SlotUnavailable
from voicegrid.capacity.fair import FairPool
from voicegrid.capacity.memory import SlotPool
from voicegrid.media.session import Pcm
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.errors import ProviderError, ProviderRateLimited
from voicegrid.providers.llm.base import LlmChunk, LlmStage, Message, ToolSpec
from voicegrid.providers.tts.base import TtsStage


class ProviderBusy(ProviderError):
    """Every slot of this provider account was taken for longer than the agent may wait."""

    retryable = True


@dataclass
class Aimd:
    """Our view of a provider account's real limit, shrunk by 429s and regrown while quiet."""

    pool: SlotPool
    limit: int
    cooldown_s: float = 30.0
    decreases: int = 0
    _last_change: float = 0.0

    def throttled(self, now: float) -> None:
        self.pool.pool.capacity = max(1, self.pool.pool.capacity // 2)
        self.decreases += 1
        self._last_change = now

    def tick(self, now: float) -> None:
        if self.pool.pool.capacity < self.limit and now - self._last_change >= self.cooldown_s:
            self.pool.pool.capacity += 1
            self._last_change = now


@contextlib.asynccontextmanager
async def _slot(aimd: Aimd, tenant: str, wait_s: float, provider: str) -> AsyncIterator[None]:
    aimd.tick(time.monotonic())
    try:
        await aimd.pool.acquire(tenant, wait_s)
    except SlotUnavailable as exc:
        raise ProviderBusy(provider, str(exc)) from exc
    try:
        yield
    except ProviderRateLimited:
        aimd.throttled(time.monotonic())
        raise
    finally:
        aimd.pool.release(tenant)


class GatedTts(TtsStage):
    def __init__(self, inner: TtsStage, aimd: Aimd, tenant: str, wait_s: float) -> None:
        super().__init__(inner.config)
        self.name = inner.name
        self.inner, self.aimd, self.tenant, self.wait_s = inner, aimd, tenant, wait_s

    async def synthesize(self, text: str, sample_rate: int, meter: Meter) -> AsyncGenerator[Pcm, None]:
        async with _slot(self.aimd, self.tenant, self.wait_s, self.name):
            async for chunk in self.inner.synthesize(text, sample_rate, meter):
                yield chunk

    def cancel(self) -> None:
        self.inner.cancel()

    async def aclose(self) -> None:
        await self.inner.aclose()


class GatedLlm(LlmStage):
    def __init__(self, inner: LlmStage, aimd: Aimd, tenant: str, wait_s: float) -> None:
        super().__init__(inner.config)
        self.name = inner.name
        self.inner, self.aimd, self.tenant, self.wait_s = inner, aimd, tenant, wait_s

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncGenerator[LlmChunk, None]:
        async with _slot(self.aimd, self.tenant, self.wait_s, self.name):
            async for chunk in self.inner.stream(messages, tools, meter):
                yield chunk


# Concurrent requests per provider account, from PROVIDER_FACTS.md 4.6 (the entry plans); None: the
# provider has no concurrency limit we gate on (OpenAI limits tokens and requests per minute).
DEFAULT_SLOTS: dict[tuple[str, str], int] = {("tts", "deepgram"): 45, ("tts", "elevenlabs"): 20}


class ProviderSlots:
    """The process's fair pools, one per provider account (provider, endpoint and key)."""

    def __init__(self, limits: dict[tuple[str, str], int] | None = None) -> None:
        self.limits = dict(DEFAULT_SLOTS if limits is None else limits)
        self.accounts: dict[tuple[str, str, str, str], Aimd] = {}

    def account(self, stage: str, config: ProviderConfig) -> Aimd | None:
        limit = self.limits.get((stage, config.provider))
        if limit is None:
            return None
        key_id = hashlib.sha256((config.api_key or "").encode()).hexdigest()[:16]
        account = (stage, config.provider, config.base_url or "", key_id)
        if account not in self.accounts:
            name = f"{stage}:{config.provider}"
            self.accounts[account] = Aimd(SlotPool(name, FairPool(limit)), limit)
        return self.accounts[account]

    def gate_tts(self, tts: TtsStage, tenant: str, wait_s: float) -> TtsStage:
        aimd = self.account("tts", tts.config)
        return tts if aimd is None else GatedTts(tts, aimd, tenant, wait_s)

    def gate_llm(self, llm: LlmStage, tenant: str, wait_s: float) -> LlmStage:
        aimd = self.account("llm", llm.config)
        return llm if aimd is None else GatedLlm(llm, aimd, tenant, wait_s)
