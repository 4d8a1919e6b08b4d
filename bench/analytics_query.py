"""The dashboard's queries against 1,000,000 call records on PostgreSQL: p50 and p95 per query.

Run: .venv/bin/python bench/analytics_query.py [--calls 1000000] [--businesses 100] [--repeat 200]

It starts a PostgreSQL of its own on loopback, migrates it, and loads `--calls` synthetic call records
over 90 days (a tenth of the businesses take nine calls in ten; five agents each), each with its cost
items and per-turn latency, and the rollup rows they add up to (computed by the same code the
platform runs at call end). Then, for the business with the most calls and the last 30 days, it times
what the dashboard asks, through the same functions the API uses:

  overview_by_day     rollups by day (calls, minutes, cost, latency p50/p95)
  by_agent            rollups by agent
  providers           provider rollups
  calls_newest        the call list, newest first, 50 rows
  calls_filtered      the call list for one agent and outcome, 50 rows
  call_detail         one call's whole record

Goal: p95 <= 100 ms for each. Saves bench/results/analytics_query-<date>.json.
"""

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from voicegrid.analytics.rollup import record_deltas, summarize_calls, summarize_providers
from voicegrid.store import make_engine, make_sessionmaker, upgrade
from voicegrid.store.call_records import get_call_record, list_call_records
from voicegrid.store.rollups import CALL_SUMS, PROVIDER_SUMS, call_rollups, provider_rollups
from voicegrid.testing.postgres_server import PostgresServer, start_postgres

RESULTS = Path(__file__).resolve().parent / "results"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
OUTCOMES = ["completed"] * 8 + ["no-answer", "failed", "transferred"]


def synthetic(n: int, business: str, agent: str, rng: random.Random) -> dict[str, Any]:
    created = NOW - timedelta(seconds=rng.uniform(0, 90 * 86400))
    answered_s = rng.uniform(20, 400)
    turns = []
    for i in range(rng.randint(2, 8)):
        endpointing, stt, llm, tts, platform = 200.0, rng.uniform(80, 250), rng.uniform(250, 900), rng.uniform(90, 300), rng.uniform(5, 25)  # fmt: skip
        turns.append({
            "index": i, "endpointing_ms": endpointing, "stt_final_ms": round(stt, 1), "llm_first_token_ms": round(llm, 1),
            "tts_first_audio_ms": round(tts, 1), "platform_ms": round(platform, 1),
            "voice_to_voice_ms": round(endpointing + stt + llm + tts + platform, 1),
            "llm_provider": "openai", "tts_provider": rng.choice(["deepgram", "elevenlabs"]),
        })  # fmt: skip
    stt_min, chars, tokens_in, tokens_out = answered_s / 60, rng.randint(300, 3000), rng.randint(2000, 40000), rng.randint(100, 2000)  # fmt: skip
    items = [
        {"component": "stt", "provider": "deepgram", "model": "nova-3", "quantity": stt_min, "unit": "minute", "unit_price": 0.0048, "amount": round(stt_min * 0.0048, 6)},
        {"component": "llm", "provider": "openai", "model": "gpt-4o-mini", "quantity": tokens_in / 1e6, "unit": "1m_tokens_in", "unit_price": 0.15, "amount": round(tokens_in / 1e6 * 0.15, 6)},
        {"component": "llm", "provider": "openai", "model": "gpt-4o-mini", "quantity": tokens_out / 1e6, "unit": "1m_tokens_out", "unit_price": 0.6, "amount": round(tokens_out / 1e6 * 0.6, 6)},
        {"component": "tts", "provider": turns[0]["tts_provider"], "model": None, "quantity": chars / 1000, "unit": "1k_chars", "unit_price": 0.03, "amount": round(chars / 1000 * 0.03, 6)},
        {"component": "telephony", "provider": "sip", "model": "inbound", "quantity": answered_s / 60, "unit": "minute", "unit_price": 0.0035, "amount": round(answered_s / 60 * 0.0035, 6)},
    ]  # fmt: skip
    total = round(sum(i["amount"] for i in items), 6)
    failovers = (
        [{"stage": "tts", "error": {"provider": "elevenlabs", "kind": "ProviderBusy"}}]
        if rng.random() < 0.03
        else []
    )
    return {
        "id": f"call_{n:08d}", "sip_call_id": f"{n}@bench", "business_id": business, "agent_id": agent,
        "direction": rng.choice(["inbound", "inbound", "outbound"]), "outcome": rng.choice(OUTCOMES),
        "created_at": created.isoformat(), "answered_at": (created + timedelta(seconds=3)).isoformat(),
        "ended_at": (created + timedelta(seconds=3 + answered_s)).isoformat(), "duration_s": answered_s + 3,
        "answered_s": answered_s, "interruptions": rng.randint(0, 2), "failovers": failovers,
        "providers": {"stt": ["deepgram"], "llm": ["openai"], "tts": [turns[0]["tts_provider"]]},
        "transcript": [{"speaker": "caller", "text": "do you deliver"}, {"speaker": "agent", "text": "We do."}],
        "cost": {"currency": "USD", "catalog_version": "2026-11", "total": total, "billable_total": round(total * 1.2, 6), "items": items},
        "latency": {"turns": turns},
    }  # fmt: skip


async def load(server: PostgresServer, calls: int, businesses: int) -> tuple[str, list[str]]:
    rng = random.Random(7)
    names = [f"biz_{b:03d}" for b in range(businesses)]
    heavy = names[: max(1, businesses // 10)]  # a tenth of the businesses take nine calls in ten
    call_rollup: dict[tuple[str, str, str], dict[str, Any]] = {}
    provider_rollup: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
    started = time.monotonic()
    try:
        batch: list[tuple[Any, ...]] = []
        for n in range(calls):
            business = rng.choice(heavy) if rng.random() < 0.9 else rng.choice(names)
            record = synthetic(n, business, f"agt_{business}_{rng.randrange(5)}", rng)
            call, providers = record_deltas(record)
            key = (call["business_id"], call["day"], call["agent_id"], call["direction"])
            acc = call_rollup.setdefault(key, {**dict.fromkeys(CALL_SUMS, 0), "outcomes": {}, "latency": {}})
            for name in CALL_SUMS:
                acc[name] += call[name]
            for k, v in call["outcomes"].items():
                acc["outcomes"][k] = acc["outcomes"].get(k, 0) + v
            for name, hist in call["latency"].items():
                into = acc["latency"].setdefault(name, {})
                for k, v in hist.items():
                    into[k] = into.get(k, 0) + v
            for p in providers:
                pkey = (p["business_id"], p["day"], p["stage"], p["provider"])
                pacc = provider_rollup.setdefault(
                    pkey, {**dict.fromkeys(PROVIDER_SUMS, 0), "unit": p["unit"], "latency": {}}
                )
                for name in PROVIDER_SUMS:
                    pacc[name] += p[name]
                for k, v in p["latency"].items():
                    pacc["latency"][k] = pacc["latency"].get(k, 0) + v
            created = datetime.fromisoformat(record["created_at"])
            batch.append((
                record["id"], business, record["agent_id"], record["sip_call_id"], record["direction"], record["outcome"],
                created, datetime.fromisoformat(record["ended_at"]), record["duration_s"], record["cost"]["total"],
                record["cost"]["billable_total"], json.dumps(record),
            ))  # fmt: skip
            if len(batch) == 20_000:
                await conn.copy_records_to_table("call_records", records=batch)
                batch.clear()
                print(f"\r  loaded {n + 1:,} calls ({time.monotonic() - started:.0f} s)", end="", flush=True)
        if batch:
            await conn.copy_records_to_table("call_records", records=batch)
        await conn.copy_records_to_table(
            "call_rollups",
            records=[(*k, *(v[s] for s in CALL_SUMS), json.dumps(v["outcomes"]), json.dumps(v["latency"])) for k, v in call_rollup.items()],
            columns=["business_id", "day", "agent_id", "direction", *CALL_SUMS, "outcomes", "latency"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "provider_rollups",
            records=[(*k, *(v[s] for s in PROVIDER_SUMS), v["unit"], json.dumps(v["latency"])) for k, v in provider_rollup.items()],
            columns=["business_id", "day", "stage", "provider", *PROVIDER_SUMS, "unit", "latency"],
        )  # fmt: skip
        await conn.execute("ANALYZE")
        target = await conn.fetchval(
            "SELECT business_id FROM call_records GROUP BY business_id ORDER BY count(*) DESC LIMIT 1"
        )
        ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM call_records WHERE business_id = $1 LIMIT 500", target)
        ]
        filtered = await conn.fetchval(
            "SELECT count(*) FROM call_records WHERE business_id = $1 AND agent_id = $2 AND outcome = 'completed'",
            target,
            f"agt_{target}_3",
        )
        assert filtered > 50, "the filtered list must have rows to find"
    finally:
        await conn.close()
    print(
        f"\r  loaded {calls:,} calls and {len(call_rollup):,} + {len(provider_rollup):,} rollup rows in {time.monotonic() - started:.0f} s"
    )
    return str(target), ids


async def measure(
    server: PostgresServer, target: str, ids: list[str], repeat: int
) -> dict[str, dict[str, float]]:
    engine = make_engine(server.url())
    sessions = make_sessionmaker(engine)
    first, last = (NOW - timedelta(days=29)).date().isoformat(), NOW.date().isoformat()
    before = NOW + timedelta(days=1)
    rng = random.Random(3)

    queries: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "overview_by_day": lambda s: _summary(s, target, first, last, "day"),
        "by_agent": lambda s: _summary(s, target, first, last, "agent"),
        "providers": lambda s: _providers(s, target, first, last),
        "calls_newest": lambda s: list_call_records(s, target, limit=50, before=before),
        "calls_filtered": lambda s: list_call_records(s, target, limit=50, agent_id=f"agt_{target}_3", outcome="completed"),
        "call_detail": lambda s: get_call_record(s, target, rng.choice(ids)),
    }  # fmt: skip
    out: dict[str, dict[str, float]] = {}
    try:
        for name, query in queries.items():
            times = []
            for i in range(repeat + 5):
                async with sessions() as session:
                    t0 = time.perf_counter()
                    await query(session)
                    if i >= 5:  # the first few warm the connection pool and PostgreSQL's caches
                        times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
                "max_ms": round(times[-1], 2),
            }
            print(f"  {name:16} p50 {out[name]['p50_ms']:7.2f} ms   p95 {out[name]['p95_ms']:7.2f} ms")
    finally:
        await engine.dispose()
    return out


async def _summary(session: Any, business: str, first: str, last: str, group_by: str) -> Any:
    return summarize_calls(await call_rollups(session, business, first, last), group_by)


async def _providers(session: Any, business: str, first: str, last: str) -> Any:
    return summarize_providers(await provider_rollups(session, business, first, last))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--businesses", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    server = await asyncio.to_thread(start_postgres)
    try:
        engine = make_engine(server.url())
        await upgrade(engine)
        await engine.dispose()
        target, ids = await load(server, args.calls, args.businesses)
        conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
        in_range = await conn.fetchval(
            "SELECT count(*) FROM call_records WHERE business_id = $1 AND created_at >= $2",
            target,
            NOW - timedelta(days=30),
        )
        await conn.close()
        print(f"  business {target}: {in_range:,} calls in the last 30 days")
        timings = await measure(server, target, ids, args.repeat)
    finally:
        await asyncio.to_thread(server.stop)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "calls": args.calls,
        "businesses": args.businesses,
        "business": target,
        "business_calls_last_30_days": in_range,
        "repeat": args.repeat,
        "queries": timings,
        "goal_p95_ms": 100,
        "met": all(t["p95_ms"] <= 100 for t in timings.values()),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"analytics_query-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    asyncio.run(main())
