"""Per-turn gating: a provider account with no free slot hands the turn to the next provider."""

import pytest

from tests.pipeline.test_turn_taking import session_with
from tests.support.voice import Line
from voicegrid.capacity.leases import Lease
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.capacity.metrics import CapacityMetrics
from voicegrid.core.egress import PERMISSIVE
from voicegrid.pipeline.events import ProviderFailed
from voicegrid.pipeline.gating import Account, PlanLimit, ProviderSlots
from voicegrid.pipeline.session import VoiceSession
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.errors import ProviderError, ProviderRateLimited
from voicegrid.providers.llm.base import TextDelta
from voicegrid.providers.registry import build_llm, build_stt, build_tts
from voicegrid.store.models import Business
from voicegrid.telephony.admission import Admission
from voicegrid.testing.emulators import DeepgramEmulator, Faults


async def test_a_turn_whose_tts_account_is_full_is_spoken_by_the_next_provider_after_the_wait() -> None:
    slots = ProviderSlots({("tts", "simulated"): PlanLimit(slots=1)})
    busy = ProviderConfig("simulated", api_key="account-a", options={"first_byte_ms": 10})
    spare = ProviderConfig("simulated", api_key="account-b", options={"first_byte_ms": 10})
    account_a = slots.account("tts", busy)
    assert account_a is not None
    await account_a.acquire("another-business", 1.0)  # account A is fully used elsewhere
    session = session_with(
        [{"transcripts": ["hello"], "final_ms": 20}], [{"replies": ["Hi there."], "first_token_ms": 20}]
    )
    errors: list[object] = []
    session.tts = build_tts(
        [busy, spare],
        lambda stage, e: (errors.append(e), session.provider_failed(stage, e)),
        lambda p: slots.gate_tts(p, "this-business", 0.15),
    )
    line = Line(speech=[(0.3, 0.6)])
    await line.run(session, seconds=2.5)
    await session.wait_closed()
    [turn] = session.turns
    assert turn.agent_text == "Hi there."
    failures = [e for e in session.events if isinstance(e, ProviderFailed)]
    assert [f.error["kind"] for f in failures] == ["ProviderBusy"]
    assert f"no {account_a.name} slot for this-business" in failures[0].error["message"]
    assert (await slots.backend.usage(account_a.name)).in_use == {"another-business": 1}  # nothing left held
    spare_account = slots.account("tts", spare)
    assert spare_account is not None
    assert (await slots.backend.usage(spare_account.name)).in_use == {}


async def test_a_429_halves_the_accounts_slots_and_quiet_cooldowns_give_them_back() -> None:
    backend = MemoryBackend()
    aimd = Account(backend, "tts", limit=8, metrics=CapacityMetrics(), cooldown_s=30)
    await aimd.throttled(now=100)
    assert (aimd.capacity, (await backend.usage("tts")).capacity) == (4, 4)
    await aimd.throttled(now=101)
    assert aimd.capacity == 2
    await aimd.tick(now=120)
    assert aimd.capacity == 2  # still cooling down
    await aimd.tick(now=131)
    assert aimd.capacity == 3
    for t in range(1, 20):
        await aimd.tick(now=131 + 30 * t)
    assert (aimd.capacity, (await backend.usage("tts")).capacity) == (8, 8)  # back to the limit, never above
    assert aimd.decreases == 2
    assert b'voicegrid_provider_throttles_total{account="tts"} 2.0' in aimd.metrics.render()


async def test_a_429_through_the_gate_shrinks_the_accounts_slots_and_frees_the_slot_it_held() -> None:
    emulator = DeepgramEmulator(api_key="key", faults=Faults("429"))
    await emulator.start()
    try:
        slots = ProviderSlots({("tts", "deepgram"): PlanLimit(slots=4)})
        config = ProviderConfig(
            "deepgram",
            api_key="key",
            base_url=emulator.http_url,
            options={"transport": "ws"},
            destinations=PERMISSIVE,
        )
        [tts] = build_tts([config], None, lambda p: slots.gate_tts(p, "business-1", 0.1)).providers
        with pytest.raises(ProviderRateLimited):
            async for _ in tts.synthesize("Hello.", 8000, Meter()):
                pass
    finally:
        await emulator.stop()
    account = slots.account("tts", config)
    assert account is not None
    usage = await slots.backend.usage(account.name)
    assert (account.capacity, usage.capacity, account.decreases) == (2, 2, 1)
    assert usage.in_use == {}


async def test_a_live_stt_stream_holds_its_accounts_slot_for_the_call_and_a_full_account_fails_over() -> None:
    slots = ProviderSlots({("stt", "simulated"): PlanLimit(slots=1)})
    busy = ProviderConfig("simulated", api_key="account-a", options={"transcripts": ["hello"]})
    spare = ProviderConfig("simulated", api_key="account-b", options={"transcripts": ["hello"]})
    account_a, account_b = slots.account("stt", busy), slots.account("stt", spare)
    assert account_a is not None
    assert account_b is not None
    await account_a.acquire("another-business", 1.0)  # account A's one stream is in use elsewhere
    errors: list[ProviderError] = []
    stt = build_stt(
        [busy, spare], lambda stage, e: errors.append(e), lambda p: slots.gate_stt(p, "this-business", 0.05)
    )
    stream = await stt.open(8000, "en", Meter())
    assert [type(e).__name__ for e in errors] == ["ProviderBusy"]
    assert (await slots.backend.usage(account_b.name)).in_use == {"this-business": 1}  # held while open
    await stream.aclose()
    assert (await slots.backend.usage(account_b.name)).in_use == {}
    assert (await slots.backend.usage(account_a.name)).in_use == {"another-business": 1}


async def test_an_llm_account_over_its_tokens_per_minute_sends_the_next_request_to_the_next_provider() -> (
    None
):
    slots = ProviderSlots({("llm", "simulated"): PlanLimit(tpm=20)})
    small = ProviderConfig(
        "simulated", api_key="small-tier", options={"first_token_ms": 5, "replies": ["A"] * 5}
    )
    other = ProviderConfig(
        "simulated", api_key="other-tier", options={"first_token_ms": 5, "replies": ["B"] * 5}
    )
    account = slots.account("llm", small)
    assert account is not None
    account.wall = lambda: 6_000.0  # one minute throughout, whenever the test runs
    errors: list[ProviderError] = []
    llm = build_llm(
        [small, other], lambda stage, e: errors.append(e), lambda p: slots.gate_llm(p, "biz", 0.1)
    )
    prompt = [{"role": "user", "content": "x" * 100}]  # 25 tokens in: the first request spends the minute

    async def reply() -> str:
        return "".join([c.text async for c in llm.stream(prompt, [], Meter()) if isinstance(c, TextDelta)])

    assert await reply() == "A"
    assert await reply() == "B"  # the small account's minute is spent: the next provider answers
    assert [type(e).__name__ for e in errors] == ["ProviderBusy"]
    assert "tpm=20" in str(errors[0])
    assert await slots.backend.total(account._minute()[0]) == 26  # 25 in, 1 out


async def test_a_call_reserves_its_stt_stream_at_admission_and_is_refused_when_no_stt_provider_has_room() -> (
    None
):
    slots = ProviderSlots({("stt", "simulated"): PlanLimit(slots=1)})
    admission = Admission(MemoryBackend())
    biz = Business(id="biz_1", reseller_id="res_1", name="Bella")
    account = ProviderConfig("simulated", api_key="one-stream", options={"transcripts": ["hello"]})

    def call() -> VoiceSession:
        session = session_with([{"transcripts": ["hello"]}], [{"replies": ["Hi."]}])
        session.stt = build_stt([account], None, lambda p: slots.gate_stt(p, biz.id, 0.05))
        return session

    first, second = call(), call()
    first_lease = await admission.admit(biz, None, "inbound")
    assert isinstance(first_lease, Lease)
    assert (
        await admission.reserve_stack(first_lease, first.reserve_stt, first.unreserve_stt, "inbound") is None
    )
    second_lease = await admission.admit(biz, None, "inbound")
    assert isinstance(second_lease, Lease)
    refused = await admission.reserve_stack(second_lease, second.reserve_stt, second.unreserve_stt, "inbound")
    assert refused is not None
    assert (refused.limit, refused.reason) == ("provider stt streams (simulated)", "stt_streams")
    assert await admission.backend.count(f"business:{biz.id}") == 1  # the refused call's lease is back
    await admission.release(first_lease)  # the first call ended before it was answered
    await admission.release(first_lease)  # (a second hangup report changes nothing)
    assert await admission.backend.count(f"business:{biz.id}") == 0
    third_lease = await admission.admit(biz, None, "inbound")
    assert isinstance(third_lease, Lease)
    assert (
        await admission.reserve_stack(third_lease, second.reserve_stt, second.unreserve_stt, "inbound")
        is None
    )  # its stream slot came back


async def test_background_work_takes_an_llm_slot_only_when_live_turns_leave_one_spare() -> None:
    slots = ProviderSlots({("llm", "simulated"): PlanLimit(slots=4)})
    config = ProviderConfig(
        "simulated", api_key="shared", options={"first_token_ms": 5, "replies": ["ok"] * 9}
    )
    account = slots.account("llm", config)
    assert account is not None
    analysis = build_llm([config], None, lambda p: slots.gate_llm(p, "biz", 0.0, background=True))

    async def ask() -> str:
        return "".join([c.text async for c in analysis.stream([], [], Meter()) if isinstance(c, TextDelta)])

    live = [await account.acquire("live-calls", 1.0) for _ in range(2)]
    assert await ask() == "ok"  # two of four slots free: room to spare
    live.append(await account.acquire("live-calls", 1.0))
    with pytest.raises(ProviderError, match="live calls first"):
        await ask()  # one left: it is the live turns'
    assert (await slots.backend.usage(account.name)).in_use == {"live-calls": 3}  # nothing taken
    await account.release(live.pop())
    assert await ask() == "ok"
