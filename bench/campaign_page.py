"""What a campaign's page asks the database, for one campaign of many calls: its progress (contacts
by state and outcome) and its results (the sums of its calls' records), p50 and p95, on SQLite and
on PostgreSQL.

Run: .venv/bin/python bench/campaign_page.py [--calls 100000] [--repeat 30]

It migrates a fresh database on each engine (PostgreSQL its own, started on loopback), then loads
one campaign of `--calls` contacts, each with one ended attempt and its call's record (about 3 KB
of JSON, a transcript of ten lines, as a short real call leaves), and times the two queries through
the functions the API uses. The dashboard asks both every 3 s while a campaign runs.
Saves bench/results/campaign_page-<date>.json.
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.harness import pct
from voicegrid.store import campaigns as store
from voicegrid.store import make_engine, make_sessionmaker, upgrade
from voicegrid.store.models import (
    Agent,
    Business,
    CallRecord,
    Campaign,
    CampaignAttempt,
    CampaignContact,
    Reseller,
)
from voicegrid.testing.postgres_server import start_postgres

RESULTS = Path(__file__).resolve().parent / "results"
AT = datetime(2026, 12, 5, 12, tzinfo=UTC)
BATCH = 5000


def _rows(n: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    answered = n % 5 != 0  # one in five rang out or was busy
    contact = {"id": f"cct_{n:07d}", "campaign_id": "cmp_1", "row": n + 2, "number": f"+1212{n:07d}",
               "name": f"Guest {n}", "timezone": "America/New_York", "variables": {"item": "pizza"},
               "state": "done", "next_at": 0.0, "window_at": 0.0, "attempts": 1,
               "outcome": "answered" if answered else "busy"}  # fmt: skip
    attempt = {"id": f"call_{n:07d}", "campaign_id": "cmp_1", "contact_id": contact["id"], "attempt": 1,
               "runner": "r", "state": "ended", "outcome": contact["outcome"],
               "talk_s": 60.0 if answered else 0.0}  # fmt: skip
    lines = [{"speaker": "agent" if i % 2 else "caller", "text": "a line of about this length " * 10, "at": i}
             for i in range(10)] if answered else []  # fmt: skip
    record = {"id": attempt["id"], "business_id": "biz_1", "agent_id": "agt_1", "sip_call_id": "",
              "direction": "outbound", "outcome": "completed" if answered else "busy", "created_at": AT,
              "duration_s": 65.0, "cost_total": 0.04 if answered else 0.0, "billable_total": 0.08 if answered else 0.0,
              "record": {"answered_s": 60.0 if answered else 0.0, "transcript": lines},
              "analysis_success": (n % 3 == 0) if answered else None}  # fmt: skip
    return contact, attempt, record


async def _load(url: str, calls: int) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        session.add(Reseller(id="res_1", name="R"))
        await session.flush()
        session.add(Business(id="biz_1", reseller_id="res_1", name="B"))
        await session.flush()
        session.add(Agent(id="agt_1", business_id="biz_1", name="a", stt={}, llm={}, tts={}))
        await session.flush()
        session.add(Campaign(id="cmp_1", business_id="biz_1", name="c", agent_id="agt_1", state="finished"))
        await session.commit()
    for start in range(0, calls, BATCH):
        rows = [_rows(n) for n in range(start, min(calls, start + BATCH))]
        async with sessions() as session:
            for i, table in enumerate((CampaignContact, CampaignAttempt, CallRecord)):
                await session.execute(insert(table), [r[i] for r in rows])
            await session.commit()
    await engine.dispose()


async def _time(url: str, repeat: int) -> dict[str, dict[str, float | None]]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    queries: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "progress": lambda s: store.progress(s, "cmp_1"),
        "results": lambda s: store.results(s, "biz_1", "cmp_1"),
    }
    out: dict[str, dict[str, float | None]] = {}
    try:
        for name, query in queries.items():
            times = []
            for i in range(repeat + 3):
                async with sessions() as session:
                    t0 = time.perf_counter()
                    await query(session)
                    if i >= 3:  # the first warm the pool and the caches
                        times.append((time.perf_counter() - t0) * 1000)
            out[name] = {"p50_ms": pct(times, 50), "p95_ms": pct(times, 95)}
    finally:
        await engine.dispose()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    found: dict[str, Any] = {"calls": args.calls, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="vg-campaign-page-") as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'node.db'}"
        await _load(url, args.calls)
        found["sqlite"] = await _time(url, args.repeat)
    server = await asyncio.to_thread(start_postgres)
    try:
        await _load(server.url(), args.calls)
        found["postgresql"] = await _time(server.url(), args.repeat)
    finally:
        await asyncio.to_thread(server.stop)
    for engine in ("sqlite", "postgresql"):
        for name, t in found[engine].items():
            print(
                f"{engine:10} {name:9} p50 {t['p50_ms']:7.1f} ms   p95 {t['p95_ms']:7.1f} ms  ({args.calls} calls)"
            )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"campaign_page-{datetime.now(UTC).date().isoformat()}.json"
    out.write_text(json.dumps(found, indent=2) + "\n")
    print(f"saved {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    asyncio.run(main())
