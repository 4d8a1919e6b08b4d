"""Queueing arithmetic for sizing calls and provider slots: Erlang B (lost) and Erlang C (queued).

Offered load E (Erlangs) = arrival rate x mean holding time. With m servers:
- Erlang B, the chance a new arrival finds all m busy and is lost (a SIP trunk, an STT stream pool that
  refuses): computed by the stable recurrence B(E, 0) = 1, B(E, k) = E B(E, k-1) / (k + E B(E, k-1)).
- Erlang C, the chance an arrival must wait (a TTS or LLM slot pool that queues):
  C = m B / (m - E (1 - B)) for E < m, else 1; a wait exceeds t with probability C e^{-(m-E) t / h}.

`tts_advice()` reproduces the rule of thumb vendors give for TTS concurrency (one short request every
10-20 s per conversation, so one slot "serves" 40-80 conversations) and shows what it leaves out: at
that utilisation the queue grows without bound. It also finds how many conversations a pool serves
while the chance of a request waiting more than a bound stays under a target.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass


def erlang_b(load: float, servers: int) -> float:
    if load < 0 or servers < 0:
        raise ValueError("load and servers must not be negative")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(load: float, servers: int) -> float:
    """Probability of waiting (M/M/m)."""
    if servers <= 0 or load >= servers:
        return 1.0
    b = erlang_b(load, servers)
    return servers * b / (servers - load * (1 - b))


def wait_exceeds(load: float, servers: int, holding_s: float, wait_s: float) -> float:
    """P(wait > wait_s) in M/M/m with mean holding time `holding_s`."""
    if load >= servers:
        return 1.0
    return erlang_c(load, servers) * math.exp(-(servers - load) * wait_s / holding_s)


def mean_wait_s(load: float, servers: int, holding_s: float) -> float:
    if load >= servers:
        return math.inf
    return erlang_c(load, servers) * holding_s / (servers - load)


def servers_for_blocking(load: float, target: float) -> int:
    """Fewest servers with Erlang B blocking at or under `target`."""
    m = 0
    while erlang_b(load, m) > target:
        m += 1
    return m


def servers_for_wait(load: float, holding_s: float, wait_s: float, target: float) -> int:
    """Fewest servers with P(wait > wait_s) at or under `target`."""
    m = max(1, math.floor(load) + 1)
    while wait_exceeds(load, m, holding_s, wait_s) > target:
        m += 1
    return m


@dataclass(frozen=True, slots=True)
class SlotAdvice:
    slots: int
    naive_low: int  # conversations per the rule of thumb, at the longer request interval
    naive_high: int
    served: int  # conversations with P(wait > bound) under the target, at the shorter interval
    served_at_long_interval: int


def conversations_served(
    slots: int, request_s: float, interval_s: float, wait_s: float, target: float
) -> int:
    """Most conversations a pool of `slots` serves with P(wait > wait_s) <= target."""
    n = 0
    while wait_exceeds((n + 1) * request_s / interval_s, slots, request_s, wait_s) <= target:
        n += 1
    return n


def tts_advice(
    slots: int,
    request_s: float = 0.25,
    interval_s: tuple[float, float] = (10.0, 20.0),
    wait_s: float = 0.1,
    target: float = 0.01,
) -> SlotAdvice:
    short, long = interval_s
    return SlotAdvice(
        slots=slots,
        naive_low=round(slots * short / request_s),
        naive_high=round(slots * long / request_s),
        served=conversations_served(slots, request_s, short, wait_s, target),
        served_at_long_interval=conversations_served(slots, request_s, long, wait_s, target),
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What a traffic profile needs, end to end."""

    offered_erlangs: float
    concurrent_calls: int  # lines / STT streams for the blocking target
    blocking: float
    tts_slots: int
    tts_wait_probability: float
    llm_slots: int
    llm_wait_probability: float
    tts_erlangs: float = 0.0  # offered load on the TTS and LLM pools
    llm_erlangs: float = 0.0


def plan(
    *,
    calls_per_hour: float,
    mean_call_s: float,
    agent_talk_share: float = 0.5,
    turns_per_minute: float = 4.0,
    tts_request_s: float = 0.25,
    llm_request_s: float = 0.8,
    blocking_target: float = 0.01,
    wait_bound_s: float = 0.1,
    wait_target: float = 0.01,
) -> Plan:
    """Size calls (Erlang B) and per-turn provider slots (Erlang C) for a traffic profile.

    Every call holds an STT stream for its length, so streams = concurrent calls. Each turn makes
    one LLM request and, for the agent's speech, TTS requests: sentences of about 4 s of audio each.
    """
    load = calls_per_hour * mean_call_s / 3600
    lines = servers_for_blocking(load, blocking_target)
    turns_per_s = load * turns_per_minute / 60  # across all calls in progress
    speech_s_per_turn = 60 / turns_per_minute * agent_talk_share
    tts_per_s = turns_per_s * max(1.0, speech_s_per_turn / 4.0)
    tts_load, llm_load = tts_per_s * tts_request_s, turns_per_s * llm_request_s
    tts = servers_for_wait(tts_load, tts_request_s, wait_bound_s, wait_target)
    llm = servers_for_wait(llm_load, llm_request_s, wait_bound_s, wait_target)
    return Plan(
        offered_erlangs=load,
        concurrent_calls=lines,
        blocking=erlang_b(load, lines),
        tts_slots=tts,
        tts_wait_probability=wait_exceeds(tts_load, tts, tts_request_s, wait_bound_s),
        llm_slots=llm,
        llm_wait_probability=wait_exceeds(llm_load, llm, llm_request_s, wait_bound_s),
        tts_erlangs=tts_load,
        llm_erlangs=llm_load,
    )


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """What a configured limit does to the profile: the share refused, or waiting past the bound."""

    limit: str
    value: int
    probability: float
    meaning: str  # "refused" (calls: 503 or 429), "fall back" (STT), "wait > N ms" (TTS, LLM)
    utilisation: float


def check_limits(
    p: Plan,
    *,
    calls: int | None = None,
    stt: int | None = None,
    tts: int | None = None,
    llm: int | None = None,
    tts_request_s: float = 0.25,
    llm_request_s: float = 0.8,
    wait_bound_s: float = 0.1,
) -> list[LimitCheck]:
    """The blocking (Erlang B) or waiting (Erlang C) probability under the limits actually set."""
    wait = f"wait > {wait_bound_s * 1000:g} ms"
    offered, tts_load, llm_load = p.offered_erlangs, p.tts_erlangs, p.llm_erlangs
    rows: list[tuple[str, int | None, Callable[[int], float], str, float]] = [
        ("max_concurrent_calls", calls, lambda n: erlang_b(offered, n), "refused", offered),
        ("STT streams", stt, lambda n: erlang_b(offered, n), "fall back", offered),
        ("TTS slots", tts, lambda n: wait_exceeds(tts_load, n, tts_request_s, wait_bound_s), wait, tts_load),
        ("LLM slots", llm, lambda n: wait_exceeds(llm_load, n, llm_request_s, wait_bound_s), wait, llm_load),
    ]
    return [
        LimitCheck(name, n, probability(n), meaning, load / max(n, 1))
        for name, n, probability, meaning, load in rows
        if n is not None
    ]


# Deepgram's published concurrency per plan (PROVIDER_FACTS.md 4.6): (STT streams, TTS WebSocket streams)
DEEPGRAM_PLANS = {"pay-as-you-go": (150, 45), "growth": (225, 60), "enterprise": (300, 100)}


def deepgram_plan_for(stt_streams: int, tts_slots: int) -> str:
    for name, (stt, tts) in DEEPGRAM_PLANS.items():
        if stt_streams <= stt and tts_slots <= tts:
            return name
    return "enterprise (negotiated limits above the published minimums)"
