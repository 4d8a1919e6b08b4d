"""Every number of the report, computed once from the operator's inputs (or the call records), the
price catalog (`catalog.rate`, as a call record is rated), the planner (`capacity.planning`, as
`voicegrid plan` sizes) and the measured density (the newest `bench/load.py` summary)."""

import math
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from voicegrid.capacity import planning
from voicegrid.catalog import Catalog, rate
from voicegrid.report.facts import ASSUMED, PLANS


@dataclass(frozen=True, slots=True)
class Stack:
    """One way to run a call: a provider and model per stage, and the carrier."""

    name: str
    stt: tuple[str, str | None]
    llm: tuple[str, str | None]
    tts: tuple[str, str | None]
    carrier: str = "sip"

    def label(self) -> str:
        parts = [self.stt, self.llm, self.tts]
        return " + ".join(f"{p} {m}" if m else p for p, m in parts)


CANDIDATES = (
    Stack(
        "Deepgram + GPT-4o mini + Aura-2",
        ("deepgram", "nova-3"),
        ("openai", "gpt-4o-mini"),
        ("deepgram", "aura-2"),
    ),
    Stack(
        "Deepgram + GPT-4o mini + ElevenLabs Flash",
        ("deepgram", "nova-3"),
        ("openai", "gpt-4o-mini"),
        ("elevenlabs", "eleven_flash_v2_5"),
    ),
    Stack(
        "Deepgram + GPT-4.1 mini + ElevenLabs Multilingual",
        ("deepgram", "nova-3"),
        ("openai", "gpt-4.1-mini"),
        ("elevenlabs", "eleven_multilingual_v2"),
    ),
    Stack("Embedded (offline, free)", ("pocketsphinx", None), ("knowledge-base", None), ("espeak-ng", None)),
)
RECOMMENDED = CANDIDATES[0]


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the report is about: the volume, the stack run today, where the figures came from."""

    calls_per_month: float
    mean_call_minutes: float
    peak_hour_share: float
    languages: tuple[str, ...] = ("en",)
    today: Stack = CANDIDATES[1]
    direction: str = "inbound"
    source: str = "assumptions"  # or "call records <from> to <to>"
    assumed: frozenset[str] = frozenset()  # inputs the operator did not give
    measured: dict[str, Any] = field(default_factory=dict)  # from the records: v2v, success, cost/min
    business: str | None = None


@dataclass(frozen=True, slots=True)
class MinuteCost:
    stack: Stack
    per_minute: Decimal
    by_component: dict[str, Decimal]
    monthly: Decimal


@dataclass(frozen=True, slots=True)
class Growth:
    concurrent_calls: int
    cores: int
    servers: int
    nodes_layout: str
    deepgram_plan: str
    tts_slots: int
    elevenlabs_plan: str


@dataclass(frozen=True, slots=True)
class SelfHosting:
    api_stt_per_minute: Decimal
    gpus: int
    monthly_cost: Decimal
    api_monthly: Decimal
    break_even_minutes: int


@dataclass(frozen=True, slots=True)
class Figures:
    inputs: Inputs
    on: date
    minutes_per_month: float
    busy_hour_calls: float
    plan: planning.Plan
    advice: tuple[planning.SlotAdvice, ...]
    deepgram_plan: str
    costs: tuple[MinuteCost, ...]
    today: MinuteCost
    recommended: MinuteCost
    growth: tuple[Growth, ...]
    self_hosting: SelfHosting
    calls_per_core: float
    density_source: str
    wait_curve: tuple[tuple[int, float], ...]  # conversations on the plan's TTS slots -> P(wait > bound)


def usage_per_minute(stack: Stack) -> list[dict[str, Any]]:
    """One call-minute's use of each provider (PROVIDER_FACTS.md 4.7's worked example)."""
    return [
        {"stage": "stt", "provider": stack.stt[0], "model": stack.stt[1], "audio_seconds": 60.0},
        {
            "stage": "llm",
            "provider": stack.llm[0],
            "model": stack.llm[1],
            "tokens_in": ASSUMED["llm_tokens_in_per_minute"][0],
            "tokens_out": ASSUMED["llm_tokens_out_per_minute"][0],
        },
        {
            "stage": "tts",
            "provider": stack.tts[0],
            "model": stack.tts[1],
            "characters": ASSUMED["tts_chars_per_minute"][0],
        },
    ]


def minute_cost(catalog: Catalog, stack: Stack, direction: str, on: date, minutes: float) -> MinuteCost:
    cost = rate(
        catalog,
        usage_per_minute(stack),
        direction=direction,
        answered_seconds=60,
        carrier=stack.carrier,
        on=on,
    )
    parts: dict[str, Decimal] = {}
    for item in cost.items:
        parts[item.component] = parts.get(item.component, Decimal(0)) + item.amount
    return MinuteCost(
        stack, cost.total, parts, (cost.total * Decimal(str(minutes))).quantize(Decimal("0.01"))
    )


def _elevenlabs_plan(slots: int) -> str:
    for plan in PLANS:
        if plan.provider == "ElevenLabs" and plan.tts_slots is not None and slots <= plan.tts_slots:
            return plan.plan
    return "Enterprise (negotiated)"


def growth(calls: int, calls_per_core: float, mean_call_s: float) -> Growth:
    per_server = calls_per_core * ASSUMED["cores_per_server"][0] * ASSUMED["server_headroom"][0]
    cores = math.ceil(calls / calls_per_core)
    servers = max(1, math.ceil(calls / per_server))
    sized = planning.plan(calls_per_hour=calls * 3600 / mean_call_s, mean_call_s=mean_call_s)
    layout = (
        "one machine: voicegrid alone, SQLite"
        if servers == 1
        else f"{servers} nodes behind the Kamailio edge, with PostgreSQL and Redis"
    )
    return Growth(
        calls,
        cores,
        servers,
        layout,
        planning.deepgram_plan_for(calls, sized.tts_slots),
        sized.tts_slots,
        _elevenlabs_plan(sized.tts_slots),
    )


def self_hosting(stt_price: Decimal, minutes: float, peak_calls: int) -> SelfHosting:
    gpus = max(1, math.ceil(peak_calls / ASSUMED["selfhost_streams_per_gpu"][0]))
    monthly = Decimal(gpus * ASSUMED["gpu_server_usd_month"][0] + ASSUMED["selfhost_licence_usd_month"][0])
    api = (stt_price * Decimal(str(minutes))).quantize(Decimal("0.01"))
    break_even = math.ceil(monthly / stt_price) if stt_price > 0 else 0
    return SelfHosting(stt_price, gpus, monthly, api, break_even)


def compute(
    inputs: Inputs, catalog: Catalog, on: date, calls_per_core: float, density_source: str
) -> Figures:
    minutes = inputs.calls_per_month * inputs.mean_call_minutes
    busy = inputs.calls_per_month / ASSUMED["days_per_month"][0] * inputs.peak_hour_share
    mean_call_s = inputs.mean_call_minutes * 60
    sized = planning.plan(calls_per_hour=busy, mean_call_s=mean_call_s)
    advice = tuple(planning.tts_advice(n) for n in (1, 3, 10, 45))
    carrier = inputs.today.carrier  # every stack on today's carrier: the comparison is of providers
    candidates = [replace(c, carrier=carrier) for c in CANDIDATES]
    recommended = candidates[0]
    stacks = candidates if inputs.today in candidates else [inputs.today, *candidates]
    costs = tuple(minute_cost(catalog, s, inputs.direction, on, minutes) for s in stacks)
    by_stack = {c.stack: c for c in costs}
    stt_price = by_stack[recommended].by_component.get("stt", Decimal(0))
    curve = tuple(
        (n, planning.wait_exceeds(n * 0.25 / 10.0, sized.tts_slots, 0.25, 0.1))
        for n in range(0, max(10, sized.tts_slots * 80) + 1, max(1, sized.tts_slots * 4))
    )
    return Figures(
        inputs=inputs,
        on=on,
        minutes_per_month=minutes,
        busy_hour_calls=busy,
        plan=sized,
        advice=advice,
        deepgram_plan=planning.deepgram_plan_for(sized.concurrent_calls, sized.tts_slots),
        costs=costs,
        today=by_stack[inputs.today],
        recommended=by_stack[recommended],
        growth=tuple(growth(n, calls_per_core, mean_call_s) for n in (10, 100, 1000)),
        self_hosting=self_hosting(stt_price, minutes, sized.concurrent_calls),
        calls_per_core=calls_per_core,
        density_source=density_source,
        wait_curve=curve,
    )
