"""Gating: a TTS or LLM request first takes a slot of its provider account's fair pool, and a live
STT stream holds one for the call's length.

If no slot frees up within the agent's wait, the request fails with `ProviderBusy` (retryable), and
the failover list moves on to the next provider in the same turn. A 429 from the provider halves our
view of the account's limit for a cool-down (multiplicative decrease); each quiet cool-down gives one
slot back (additive increase), up to the configured limit. Both are counted and reported.
"""

import contextlib
import hashlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

from voicegrid.capacity.backend import Backend, PoolSpec, Slot
from voicegrid.capacity.errors import SlotUnavailable
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.capacity.metrics import CapacityMetrics
from voicegrid.media.session import Pcm
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.errors import ProviderError, ProviderRateLimited
from voicegrid.providers.llm.base import LlmChunk, LlmStage, Message, ToolSpec
from voicegrid.providers.stt.base import SttStage, Transcript, TranscriptStream
from voicegrid.providers.tts.base import TtsStage


class ProviderBusy(ProviderError):
    """Every slot of this provider account was taken for longer than the agent may wait."""

    retryable = True


@dataclass(frozen=True, slots=True)
class PlanLimit:
    """A provider plan's limits per account: concurrency, requests and tokens per minute, and how the
    tenants sharing the account split it (weights, guaranteed minimums; by business id)."""

    slots: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    weights: dict[str, float] = field(default_factory=dict)
    minimums: dict[str, int] = field(default_factory=dict)


@dataclass
class Account:
    """One provider account on the capacity backend: its fair pool (when it limits concurrency), its
    per-minute budgets, and our view of its real concurrency limit (AIMD)."""

    backend: Backend
    name: str
    limit: int | None
    metrics: CapacityMetrics
    cooldown_s: float = 30.0
    rpm: int | None = None
    tpm: int | None = None
    weights: dict[str, float] = field(default_factory=dict)
    minimums: dict[str, int] = field(default_factory=dict)
    decreases: int = 0
    capacity: int = 0
    wall: Callable[[], float] = time.time  # the clock the per-minute budgets are counted by
    _last_change: float = 0.0
    _configured: bool = False

    def __post_init__(self) -> None:
        self.capacity = self.capacity or self.limit or 0

    @property
    def configured(self) -> bool:
        return self._configured

    def apply(self, plan: PlanLimit) -> None:
        self.limit, self.rpm, self.tpm = plan.slots, plan.rpm, plan.tpm
        self.weights, self.minimums = dict(plan.weights), dict(plan.minimums)

    async def resize(self, capacity: int) -> None:
        self.capacity = capacity
        minimums = self.minimums if sum(self.minimums.values()) <= capacity else {}  # AIMD shrank below them
        await self.backend.configure(PoolSpec(self.name, capacity, self.weights, minimums))
        self._configured = True
        self.metrics.capacity(self.name, capacity)

    async def throttled(self, now: float) -> None:
        self.decreases += 1
        self._last_change = now
        self.metrics.throttled(self.name)
        if self.limit is not None:
            await self.resize(max(1, self.capacity // 2))

    async def tick(self, now: float) -> None:
        if self.limit is None:
            return
        if not self._configured:
            await self.resize(self.capacity)
        if self.capacity < self.limit and now - self._last_change >= self.cooldown_s:
            self._last_change = now
            await self.resize(self.capacity + 1)

    def _minute(self) -> tuple[str, float]:
        minute = int(self.wall() // 60)
        return f"tpm:{self.name}:{minute}", time.time() + 120  # kept two minutes, then dropped

    async def acquire(self, tenant: str, wait_s: float) -> Slot | None:
        """Check the minute's budgets, then hold a slot (None when the plan limits no concurrency)."""
        if self.rpm is not None and not await self.backend.rate(f"rpm:{self.name}", self.rpm, 60.0):
            self.metrics.slot_timeout(self.name)
            raise SlotUnavailable(f"{self.name} (rpm={self.rpm})", tenant, 0.0)
        if self.tpm is not None and await self.backend.total(self._minute()[0]) >= self.tpm:
            self.metrics.slot_timeout(self.name)
            raise SlotUnavailable(f"{self.name} (tpm={self.tpm})", tenant, 0.0)
        if self.limit is None:
            return None
        await self.tick(time.monotonic())
        started = time.monotonic()
        try:
            slot = await self.backend.acquire_slot(self.name, tenant, wait_s)
        except SlotUnavailable:
            self.metrics.slot_timeout(self.name)
            raise
        self.metrics.slot_taken(self.name, tenant, time.monotonic() - started)
        return slot

    async def spent(self, tokens: int) -> None:
        if self.tpm is not None and tokens:
            key, lapses = self._minute()
            await self.backend.add(key, tokens, lapses)

    async def release(self, slot: Slot | None) -> None:
        if slot is not None:
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


class GatedStt(SttStage):
    """A live STT stream holds one slot of its account for as long as it is open (the call's length)."""

    def __init__(self, inner: SttStage, account: Account, tenant: str, wait_s: float) -> None:
        super().__init__(inner.config)
        self.name = inner.name
        self.inner, self.account, self.tenant, self.wait_s = inner, account, tenant, wait_s
        self._reserved: Slot | None = None
        self._has_reservation = False

    async def _take(self) -> Slot | None:
        try:
            return await self.account.acquire(self.tenant, self.wait_s)
        except SlotUnavailable as exc:
            raise ProviderBusy(self.name, str(exc)) from exc

    async def reserve(self) -> None:
        if not self._has_reservation:
            self._reserved, self._has_reservation = await self._take(), True

    async def unreserve(self) -> None:
        if self._has_reservation:
            slot, self._reserved, self._has_reservation = self._reserved, None, False
            await self.account.release(slot)

    async def open(self, sample_rate: int, language: str, meter: Meter) -> TranscriptStream:
        if self._has_reservation:
            slot, self._reserved, self._has_reservation = self._reserved, None, False
        else:
            slot = await self._take()
        try:
            stream = await self.inner.open(sample_rate, language, meter)
        except BaseException:
            await self.account.release(slot)
            raise
        return _SlotStream(stream, self.account, slot)


class _SlotStream(TranscriptStream):
    def __init__(self, inner: TranscriptStream, account: Account, slot: Slot | None) -> None:
        super().__init__(inner.provider, inner.sample_rate)
        self.inner, self.account = inner, account
        self._slot = slot
        self._open = True

    async def send(self, pcm: bytes) -> None:
        await self.inner.send(pcm)

    async def finalize(self) -> None:
        await self.inner.finalize()

    async def recv(self) -> Transcript | None:
        return await self.inner.recv()

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if self._open:
                self._open = False
                self.closed = True
                await self.account.release(self._slot)


class GatedLlm(LlmStage):
    """`background` (post-call analysis): live turns first. The request takes a slot only when no
    request waits for one and more than a tenth of the account's slots (at least one) are free;
    else it fails at once with `ProviderBusy`, to be tried again later."""

    def __init__(
        self, inner: LlmStage, account: Account, tenant: str, wait_s: float, *, background: bool = False
    ) -> None:
        super().__init__(inner.config)
        self.name = inner.name
        self.inner, self.account, self.tenant, self.wait_s = inner, account, tenant, wait_s
        self.background = background

    async def _spare(self) -> bool:
        if self.account.limit is None:
            return True
        await self.account.tick(time.monotonic())
        usage = await self.account.backend.usage(self.account.name)
        free = usage.capacity - sum(usage.in_use.values())
        return not any(usage.waiting.values()) and free > max(1, usage.capacity // 10)

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], meter: Meter
    ) -> AsyncGenerator[LlmChunk, None]:
        if self.background and not await self._spare():
            self.account.metrics.slot_timeout(self.account.name)
            raise ProviderBusy(self.name, f"{self.account.name}: live calls first, no spare slot")
        usage = meter.line("llm", self.inner.name, self.inner.config.model)
        before = usage.tokens_in + usage.tokens_out
        try:
            async with _slot(self.account, self.tenant, self.wait_s, self.name):
                async for chunk in self.inner.stream(messages, tools, meter):
                    yield chunk
        finally:
            await self.account.spent(usage.tokens_in + usage.tokens_out - before)


# Per provider account, from PROVIDER_FACTS.md 4.6 (the entry plans): Deepgram 150 live STT streams
# and 45 TTS streams a project, ElevenLabs 20 (Pro). OpenAI limits requests and tokens per minute by
# usage tier, which the platform states through the API (not researched into defaults here).
DEFAULT_LIMITS: dict[tuple[str, str], PlanLimit] = {
    ("stt", "deepgram"): PlanLimit(slots=150),
    ("tts", "deepgram"): PlanLimit(slots=45),
    ("tts", "elevenlabs"): PlanLimit(slots=20),
}


class ProviderSlots:
    """The provider accounts (provider, endpoint and key) and their limits, on the capacity backend."""

    def __init__(
        self,
        limits: dict[tuple[str, str], PlanLimit] | None = None,
        backend: Backend | None = None,
        metrics: CapacityMetrics | None = None,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.backend: Backend = backend or MemoryBackend()
        self.metrics = metrics or CapacityMetrics()
        self.accounts: dict[tuple[str, str, str, str], Account] = {}

    def account(self, stage: str, config: ProviderConfig) -> Account | None:
        plan = self.limits.get((stage, config.provider))
        if plan is None:
            return None
        key_id = hashlib.sha256(f"{config.base_url or ''} {config.api_key or ''}".encode()).hexdigest()[:12]
        account = (stage, config.provider, config.base_url or "", key_id)
        if account not in self.accounts:
            created = Account(self.backend, f"{stage}:{config.provider}:{key_id}", plan.slots, self.metrics)
            created.apply(plan)
            self.accounts[account] = created
        return self.accounts[account]

    async def set_limits(self, limits: dict[tuple[str, str], PlanLimit]) -> None:
        """New plan limits (the API): accounts in use take them at once, on every node sharing the pool."""
        self.limits = dict(limits)
        for (stage, provider, _, _), account in list(self.accounts.items()):
            plan = self.limits.get((stage, provider), PlanLimit())
            account.apply(plan)
            if plan.slots is not None:
                await account.resize(min(account.capacity, plan.slots) if account.decreases else plan.slots)

    def gate_tts(self, tts: TtsStage, tenant: str, wait_s: float) -> TtsStage:
        account = self.account("tts", tts.config)
        return tts if account is None else GatedTts(tts, account, tenant, wait_s)

    def gate_stt(self, stt: SttStage, tenant: str, wait_s: float) -> SttStage:
        account = self.account("stt", stt.config)
        return stt if account is None else GatedStt(stt, account, tenant, wait_s)

    def gate_llm(self, llm: LlmStage, tenant: str, wait_s: float, *, background: bool = False) -> LlmStage:
        account = self.account("llm", llm.config)
        return llm if account is None else GatedLlm(llm, account, tenant, wait_s, background=background)
