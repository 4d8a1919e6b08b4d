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

from voicegrid.capacity.backend import Backend, PoolSpec, Slot
from voicegrid.capacity.errors import SlotUnavailable
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.capacity.metrics import CapacityMetrics
from voicegrid.media.session import Pcm
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.errors import ProviderError, ProviderRateLimited
from voicegrid.providers.llm.base import LlmChunk, LlmStage, Message, ToolSpec
from voicegrid.providers.tts.base import TtsStage


class ProviderBusy(ProviderError):
    """Every slot of this provider account was taken for longer than the agent may wait."""

    retryable = True


@dataclass
class Account:
    """One provider account's pool on the capacity backend, and our view of its real limit (AIMD)."""

    backend: Backend
    name: str
    limit: int
    metrics: CapacityMetrics
    cooldown_s: float = 30.0
    decreases: int = 0
    capacity: int = 0
    _last_change: float = 0.0
    _configured: bool = False

    def __post_init__(self) -> None:
        self.capacity = self.capacity or self.limit

    @property
    def configured(self) -> bool:
        return self._configured

    async def resize(self, capacity: int) -> None:
        self.capacity = capacity
        await self.backend.configure(PoolSpec(self.name, capacity))
        self._configured = True
        self.metrics.capacity(self.name, capacity)

    async def throttled(self, now: float) -> None:
        self.decreases += 1
        self._last_change = now
        self.metrics.throttled(self.name)
        await self.resize(max(1, self.capacity // 2))

    async def tick(self, now: float) -> None:
        if not self._configured:
            await self.resize(self.capacity)
        if self.capacity < self.limit and now - self._last_change >= self.cooldown_s:
            self._last_change = now
            await self.resize(self.capacity + 1)

    async def acquire(self, tenant: str, wait_s: float) -> Slot:
        await self.tick(time.monotonic())
        started = time.monotonic()
        try:
            slot = await self.backend.acquire_slot(self.name, tenant, wait_s)
        except SlotUnavailable:
            self.metrics.slot_timeout(self.name)
            raise
        self.metrics.slot_taken(self.name, tenant, time.monotonic() - started)
        return slot

    async def release(self, slot: Slot) -> None:
        self.metrics.slot_released(self.name, slot.tenant)
        await self.backend.release_slot(slot)


@contextlib.asynccontextmanager
async def _slot(account: Account, tenant: str, wait_s: float, provider: str) -> AsyncIterator[None]:
    try:
        slot = await account.acquire(tenant, wait_s)
    except SlotUnavailable as exc:
        raise ProviderBusy(provider, str(exc)) from exc
    try:
        yield
    except ProviderRateLimited:
        await account.throttled(time.monotonic())
        raise
    finally:
        await account.release(slot)


class GatedTts(TtsStage):
    def __init__(self, inner: TtsStage, account: Account, tenant: str, wait_s: float) -> None:
        super().__init__(inner.config)
        self.name = inner.name
        self.inner, self.account, self.tenant, self.wait_s = inner, account, tenant, wait_s

    async def synthesize(self, text: str, sample_rate: int, meter: Meter) -> AsyncGenerator[Pcm, None]:
        async with _slot(self.account, self.tenant, self.wait_s, self.name):
            async for chunk in self.inner.synthesize(text, sample_rate, meter):
                yield chunk

    def cancel(self) -> None:
        self.inner.cancel()

    async def aclose(self) -> None:
        await self.inner.aclose()


class GatedLlm(LlmStage):
    def __init__(self, inner: LlmStage, account: Account, tenant: str, wait_s: float) -> None:
        super().__init__(inner.config)
        self.name = inner.name
        self.inner, self.account, self.tenant, self.wait_s = inner, account, tenant, wait_s

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncGenerator[LlmChunk, None]:
        async with _slot(self.account, self.tenant, self.wait_s, self.name):
            async for chunk in self.inner.stream(messages, tools, meter):
                yield chunk


# Concurrent requests per provider account, from PROVIDER_FACTS.md 4.6 (the entry plans); None: the
# provider has no concurrency limit we gate on (OpenAI limits tokens and requests per minute).
DEFAULT_SLOTS: dict[tuple[str, str], int] = {("tts", "deepgram"): 45, ("tts", "elevenlabs"): 20}


class ProviderSlots:
    """The provider accounts' fair pools (provider, endpoint and key), on the capacity backend."""

    def __init__(
        self,
        limits: dict[tuple[str, str], int] | None = None,
        backend: Backend | None = None,
        metrics: CapacityMetrics | None = None,
    ) -> None:
        self.limits = dict(DEFAULT_SLOTS if limits is None else limits)
        self.backend: Backend = backend or MemoryBackend()
        self.metrics = metrics or CapacityMetrics()
        self.accounts: dict[tuple[str, str, str, str], Account] = {}

    def account(self, stage: str, config: ProviderConfig) -> Account | None:
        limit = self.limits.get((stage, config.provider))
        if limit is None:
            return None
        key_id = hashlib.sha256(f"{config.base_url or ''} {config.api_key or ''}".encode()).hexdigest()[:12]
        account = (stage, config.provider, config.base_url or "", key_id)
        if account not in self.accounts:
            name = f"{stage}:{config.provider}:{key_id}"
            self.accounts[account] = Account(self.backend, name, limit, self.metrics)
        return self.accounts[account]

    async def set_limits(self, limits: dict[tuple[str, str], int]) -> None:
        """New plan limits (the API): accounts in use take them at once, on every node sharing the pool."""
        self.limits = dict(limits)
        for (stage, provider, _, _), account in list(self.accounts.items()):
            limit = self.limits.get((stage, provider))
            if limit is None:
                continue
            account.limit = limit
            await account.resize(min(account.capacity, limit) if account.decreases else limit)

    def gate_tts(self, tts: TtsStage, tenant: str, wait_s: float) -> TtsStage:
        account = self.account("tts", tts.config)
        return tts if account is None else GatedTts(tts, account, tenant, wait_s)

    def gate_llm(self, llm: LlmStage, tenant: str, wait_s: float) -> LlmStage:
        account = self.account("llm", llm.config)
        return llm if account is None else GatedLlm(llm, account, tenant, wait_s)
