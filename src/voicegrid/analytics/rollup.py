"""What one call record adds to the day's rollups: per business, day, agent and direction; and per business,
day and provider. Rollups are sums (counts, minutes, money, latency histograms), so they are updated
at call end and any range of days is read by adding rows, never by scanning calls."""

from dataclasses import asdict, dataclass, field
from typing import Any

from voicegrid.analytics import histogram

LATENCY = ("voice_to_voice", "platform", "endpointing", "stt_final", "llm_ttft", "tts_ttfb")
SUMS = ("calls", "answered", "minutes", "cost", "billable", "turns", "failovers", "interruptions")
ANALYSIS_SUMS = ("analyzed", "succeeded", "analyzed_cost", "analysis_cost")


@dataclass
class CallDelta:
    business_id: str
    day: str  # YYYY-MM-DD, UTC
    agent_id: str  # "" for calls without an agent
    direction: str  # inbound or outbound ("" in rows summed before directions were kept)
    calls: int = 1
    answered: int = 0
    minutes: float = 0.0
    cost: float = 0.0
    billable: float = 0.0
    turns: int = 0
    failovers: int = 0
    interruptions: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    latency: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class ProviderDelta:
    business_id: str
    day: str
    stage: str  # stt, llm, tts, telephony
    provider: str
    calls: int = 1
    quantity: float = 0.0
    unit: str = ""
    cost: float = 0.0
    failovers: int = 0
    latency: dict[str, int] = field(default_factory=dict)  # the stage's own wait, per turn


def deltas(record: dict[str, Any]) -> tuple[CallDelta, list[ProviderDelta]]:
    business, day = str(record.get("business_id") or ""), str(record["created_at"])[:10]
    turns = list((record.get("latency") or {}).get("turns", []))
    failovers = list(record.get("failovers") or [])
    cost = record.get("cost") or {}
    call = CallDelta(
        business,
        day,
        str(record.get("agent_id") or ""),
        str(record.get("direction") or ""),
        answered=1 if record.get("answered_at") else 0,
        minutes=float(record.get("answered_s") or 0.0) / 60,
        cost=float(cost.get("total") or 0.0),
        billable=float(cost.get("billable_total") or 0.0),
        turns=len(turns),
        failovers=len(failovers),
        interruptions=int(record.get("interruptions") or 0),
        outcomes={str(record.get("outcome") or "unknown"): 1},
    )
    for name in LATENCY:
        hist: dict[str, int] = {}
        for turn in turns:
            histogram.add(hist, turn.get(f"{name}_ms"))
        call.latency[name] = hist
    providers: dict[tuple[str, str], ProviderDelta] = {}
    for item in cost.get("items", []):
        key = (str(item["component"]), str(item["provider"]))
        delta = providers.setdefault(
            key, ProviderDelta(business, day, key[0], key[1], unit=str(item["unit"]))
        )
        delta.cost += float(item.get("amount") or 0.0)
        if item["unit"] in ("minute", "1k_chars") or item["unit"] == "1m_tokens_out":
            delta.quantity += float(item.get("quantity") or 0.0)
            delta.unit = str(item["unit"])
    waits = {"llm": ("llm_provider", "llm_first_token_ms"), "tts": ("tts_provider", "tts_first_audio_ms")}
    for stage, (who, what) in waits.items():
        for turn in turns:
            served = providers.get((stage, str(turn.get(who))))
            if served is not None:
                histogram.add(served.latency, turn.get(what))
    stt = next(iter((record.get("providers") or {}).get("stt", [])), None)
    if stt is not None and ("stt", stt) in providers:
        for turn in turns:
            histogram.add(providers["stt", stt].latency, turn.get("stt_final_ms"))
    for failure in failovers:  # the pipeline's ProviderFailed events: stage, error.provider
        failed = providers.get((str(failure.get("stage")), str((failure.get("error") or {}).get("provider"))))
        if failed is not None:
            failed.failovers += 1
    return call, list(providers.values())


def analysis_delta(record: dict[str, Any], cost: float, billable: float) -> dict[str, Any]:
    """What a finished analysis adds to its call's rollup row: its own cost, and (when done) the call
    counted as analysed, succeeded or not, with its whole cost and the questions asked."""
    analysis = record.get("analysis") or {}
    done = analysis.get("status") == "done"
    success = analysis.get("success") or {}
    intents = [i for i in analysis.get("intents") or [] if isinstance(i, dict)] if done else []
    return {
        "business_id": str(record.get("business_id") or ""),
        "day": str(record["created_at"])[:10],
        "agent_id": str(record.get("agent_id") or ""),
        "direction": str(record.get("direction") or ""),
        "cost": cost,
        "billable": billable,
        "analyzed": int(done),
        "succeeded": int(done and bool(success.get("passed"))),
        "analyzed_cost": float((record.get("cost") or {}).get("total") or 0.0) if done else 0.0,
        "analysis_cost": cost,
        "intents": {str(i["intent"])[:200]: 1 for i in intents},
        "intents_answered": {str(i["intent"])[:200]: 1 for i in intents if i.get("answered")},
    }


def record_deltas(record: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`deltas` as plain data, for the store's rollup rows."""
    call, providers = deltas(record)
    return asdict(call), [asdict(p) for p in providers]


def _rate(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def summarize_calls(rows: list[dict[str, Any]], group_by: str) -> list[dict[str, Any]]:
    """Rollup rows summed by "day", "agent", "direction" or "total": volumes, money, rates, outcomes,
    p50/p95. Rows from before directions were kept count as direction "unknown"."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        keys = {
            "day": row["day"],
            "agent": row["agent_id"],
            "agent_day": f"{row['agent_id']} {row['day']}",
            "total": "total",
        }
        key = keys[group_by] if group_by in keys else row.get("direction") or "unknown"
        g = groups.setdefault(
            key, {"outcomes": {}, "latency": {}, **dict.fromkeys((*SUMS, *ANALYSIS_SUMS), 0)}
        )
        for name in (*SUMS, *ANALYSIS_SUMS):
            g[name] += row.get(name) or 0
        histogram.merge(g["outcomes"], row["outcomes"] or {})
        for name, hist in (row["latency"] or {}).items():
            histogram.merge(g["latency"].setdefault(name, {}), hist)
    out = []
    for key in sorted(groups):
        g = groups[key]
        latency = g.pop("latency")
        if group_by == "agent_day":
            g["agent"], g["day"] = key.split(" ", 1)
        out.append(
            {
                group_by: key,
                **g,
                "analyzed_cost": round(g["analyzed_cost"], 6),
                "analysis_cost": round(g["analysis_cost"], 6),
                "success_rate": _rate(g["succeeded"], g["analyzed"]),
                "cost_per_success": _rate(g["analyzed_cost"], g["succeeded"], 6),
                "minutes": round(g["minutes"], 3),
                "cost": round(g["cost"], 6),
                "billable": round(g["billable"], 6),
                "cost_per_minute": _rate(g["cost"], g["minutes"], 6),
                "failover_rate": _rate(g["failovers"], g["calls"]),
                "p50": {f"{n}_ms": histogram.quantile(latency.get(n, {}), 0.5) for n in LATENCY},
                "p95": {f"{n}_ms": histogram.quantile(latency.get(n, {}), 0.95) for n in LATENCY},
            }
        )
    return out


def summarize_intents(rows: list[dict[str, Any]], top: int = 20) -> list[dict[str, Any]]:
    """The questions callers asked most (from the analyses), with how often they were answered."""
    asked: dict[str, int] = {}
    answered: dict[str, int] = {}
    for row in rows:
        histogram.merge(asked, row.get("intents") or {})
        histogram.merge(answered, row.get("intents_answered") or {})
    ranked = sorted(asked.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [
        {"intent": q, "asked": n, "answered": answered.get(q, 0), "answer_rate": _rate(answered.get(q, 0), n)}
        for q, n in ranked
    ]


def summarize_providers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Provider rollup rows summed per (stage, provider): use, cost, failover rate, wait p50/p95."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        fresh = {"stage": row["stage"], "provider": row["provider"], "unit": row["unit"], "hist": {}}
        g = groups.setdefault(
            (row["stage"], row["provider"]),
            {**fresh, "calls": 0, "quantity": 0.0, "cost": 0.0, "failovers": 0},
        )
        for name in ("calls", "quantity", "cost", "failovers"):
            g[name] += row[name]
        histogram.merge(g["hist"], row["latency"] or {})
    out = []
    for key in sorted(groups):
        g = groups[key]
        hist = g.pop("hist")
        out.append(
            {
                **g,
                "quantity": round(g["quantity"], 4),
                "cost": round(g["cost"], 6),
                "failover_rate": _rate(g["failovers"], g["calls"]),
                "wait_ms_p50": histogram.quantile(hist, 0.5),
                "wait_ms_p95": histogram.quantile(hist, 0.95),
            }
        )
    return out
