"""What a call's end costs the node: its record made (summary, latency, billing read, rating,
journal) and then stored (the recorder's write to the database, with the rollups).

Every ended call pays this once, on the event loop, so a node whose calls are short spends a share
of its CPU here that `bench/load.py` does not see (its calls end after the measuring window).
N calls of a six-turn conversation (twelve transcript lines, three usage lines, every turn stamp)
end on a node wired as `serve` wires it (SQLite, the journal, the call metrics); CPU time of the
whole process (the database's thread included) per call, the median of `--repeats` runs. Stored
one record at a time (calls ending apart) and in batches of 200 (an end wave, a journal replay).

Run: .venv/bin/python bench/call_end.py [--calls 300] [--repeats 5]
Saves bench/results/call_end-<date>.json and .md, with the machine's stolen time.
"""

import argparse
import asyncio
import functools
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry

from bench.harness import procfs
from voicegrid.analytics import Journal, Recorder
from voicegrid.analytics.metrics import CallMetrics
from voicegrid.analytics.rollup import record_deltas
from voicegrid.catalog import load_catalog
from voicegrid.pipeline.events import Event, Said, TurnMetrics
from voicegrid.pipeline.session import VoiceSession
from voicegrid.providers.base import Meter
from voicegrid.store import make_engine, make_sessionmaker, upgrade
from voicegrid.store.call_records import write_call_records
from voicegrid.store.models import Business, Reseller
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.records import CallRecords

LINES = [
    ("caller", "Hi, are you open tonight?"),
    ("agent", "Yes, we are open until ten tonight."),
    ("caller", "Do you deliver to the harbour?"),
    ("agent", "We deliver to the harbour district."),
    ("caller", "What is on the menu today?"),
    ("agent", "Today we have pizza, pasta and salads."),
]


class SixTurns:
    """A conversation as a voice session ends one: its events in the order they came, its turns and
    its meter, summed up by `VoiceSession.summary` itself."""

    summary = VoiceSession.summary  # reads only events, turns and meter, which this holds

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.turns: list[TurnMetrics] = []
        self.meter = Meter()
        for i in range(6):
            t0 = 100.0 + 8.0 * i
            for speaker, text in LINES[(2 * i) % 6 : (2 * i) % 6 + 2]:
                self.events.append(Said(t0, speaker, text, turn=i))  # type: ignore[arg-type]
            stamps = [t0 + s for s in (0.0, 0.3, 0.45, 0.46, 0.86, 0.9, 1.05, 1.06)]  # every turn stamp
            said = LINES[(2 * i) % 6][1], LINES[(2 * i) % 6 + 1][1]
            self.turns.append(TurnMetrics(i, *said, False, *stamps, "openai", "elevenlabs"))
            self.events.append(self.turns[-1])
        stt = self.meter.line("stt", "deepgram", "nova-3")
        stt.audio_seconds, stt.requests = 48.0, 1
        llm = self.meter.line("llm", "openai", "gpt-4o-mini")
        llm.tokens_in, llm.tokens_out, llm.requests = 2400, 180, 6
        tts = self.meter.line("tts", "elevenlabs", "eleven_flash_v2_5")
        tts.characters, tts.requests = 220, 6

    async def wait_closed(self) -> None:
        return None

    async def reserve_stt(self) -> None:
        return None

    async def unreserve_stt(self) -> None:
        return None

    def release(self) -> None:
        return None


def ended_call(n: int, run: int) -> Call:
    call = Call(f"call_{run}_{n}", "inbound", f"{run}-{n}@bench", state=CallState.ENDED)
    call.business_id, call.agent_id, call.agent_version = "biz_1", "agt_1", 1
    started = datetime.now(UTC) - timedelta(minutes=2)
    call.created_at, call.answered_at = started, started + timedelta(seconds=1)
    call.ended_at = started + timedelta(seconds=60)
    call.outcome, call.ended_by, call.from_number, call.to = "completed", "remote", "+15550001", "+15550100"
    call.conversation = SixTurns()
    return call


async def one_run(root: Path, calls: int, run: int, batch: int) -> dict[str, float]:
    engine = make_engine(f"sqlite+aiosqlite:///{root / f'run{run}.db'}")
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        session.add(Reseller(id="res_1", name="Acme", markup={"percent": "20", "per_minute": "0.01"}))
        await session.flush()
        session.add(Business(id="biz_1", reseller_id="res_1", name="Bella"))
        await session.commit()
    recorder = Recorder(
        Journal(root / f"journal{run}"),
        functools.partial(write_call_records, sessions, deltas=record_deltas),
    )
    metrics = CallMetrics(CollectorRegistry())
    records = CallRecords(recorder, load_catalog(), sessions, node="bench", metrics=metrics)
    await records.billing("biz_1")  # the first read pays for compiling the query: not a call's cost
    made = stored = 0.0
    written = 0
    for n in range(calls):
        t0 = time.process_time()
        records.ended(ended_call(n, run))
        await records.aclose()  # one at a time, as calls end on a live node
        t1 = time.process_time()
        if (n + 1) % batch == 0 or n + 1 == calls:  # the recorder drains what the journal holds
            written += await recorder.drain()
        made, stored = made + t1 - t0, stored + time.process_time() - t1
    await engine.dispose()
    if written != calls:
        raise SystemExit(f"call_end: {written} of {calls} records stored")
    return {"made_ms": 1000 * made / calls, "stored_ms": 1000 * stored / calls}


async def measure(calls: int, repeats: int) -> dict[str, Any]:
    """Stored as each call ends (the drain's batch is one record: calls ending apart) and all at once
    (batches of 200, the journal's page: an end wave, or the journal replayed after an outage)."""
    runs: dict[str, list[dict[str, float]]] = {"one": [], "all": []}
    with tempfile.TemporaryDirectory(prefix="vg-call-end-") as tmp:
        for run in range(repeats + 1):
            for name, batch in (("one", 1), ("all", calls)):
                figures = await one_run(Path(tmp), calls, 2 * run + (name == "all"), batch)
                if run:  # the first run warms the imports and the statement caches
                    runs[name].append(figures)
    made = statistics.median(r["made_ms"] for r in runs["one"] + runs["all"])
    parts = {
        "record made": made,
        "record stored, one at a time": statistics.median(r["stored_ms"] for r in runs["one"]),
        "record stored, in batches of 200": statistics.median(r["stored_ms"] for r in runs["all"]),
    }
    return {
        "cpu_ms_per_call": {part: round(ms, 3) for part, ms in parts.items()},
        "runs": {name: [{k: round(v, 3) for k, v in r.items()} for r in rs] for name, rs in runs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="the JSON file (default bench/results/call_end-<date>)")
    args = parser.parse_args()
    machine0 = procfs.machine()
    wall0 = time.monotonic()
    figures = asyncio.run(measure(args.calls, args.repeats))
    machine1 = procfs.machine()
    stolen = (machine1.stolen_s - machine0.stolen_s) / max(time.monotonic() - wall0, 1e-9)
    date = datetime.now(UTC).date().isoformat()
    result = {"date": date, "calls": args.calls, "repeats": args.repeats, **figures,
              "stolen_cores": round(stolen, 3)}  # fmt: skip
    out = args.out or Path(__file__).resolve().parent / "results" / f"call_end-{date}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"CPU per ended call ({args.calls} calls, median of {args.repeats} runs; stolen {result['stolen_cores']} cores):",
        "",
        "| part | CPU ms per call |",
        "|---|---|",
        *(f"| {part} | {ms} |" for part, ms in figures["cpu_ms_per_call"].items()),
    ]  # fmt: skip
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
