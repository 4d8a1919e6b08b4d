"""What the LLM client itself costs: CPU time of our process per streamed turn (issue 21).

Run: .venv/bin/python bench/llm_client.py [--turns 1000] [--concurrency 50] [--out FILE]

Starts the OpenAI emulator as its own process (first token at once, 2 ms between tokens, the load
benchmark's replies), then streams `--turns` chat completions through the platform's OpenAI client,
`--concurrency` at a time, as calls' turns do. Only this process's CPU is counted (the emulator has
its own), so the figure is the client: request, connection pool, HTTP parsing, event stream, JSON.
Printed and saved to bench/results/llm_client-<date>.json and .md, with the stolen time.
"""

import argparse
import asyncio
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import procfs
from bench.harness.harness import REPLIES
from bench.harness.processes import start_emulator
from voicegrid.core.egress import PERMISSIVE
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.llm.base import TextDelta
from voicegrid.providers.registry import build_llm

RESULTS = Path(__file__).with_name("results")
QUESTION = [
    {"role": "system", "content": "You take orders for a pizzeria. Be brief."},
    {"role": "user", "content": "are you open tonight"},
]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def turns(url: str, count: int, concurrency: int) -> dict[str, float]:
    config = ProviderConfig("openai", api_key="test-key", base_url=url + "/v1", destinations=PERMISSIVE)
    llm = build_llm([config])
    texts: list[str] = []

    async def one() -> None:
        pieces = []
        async for chunk in llm.stream(list(QUESTION), [], Meter()):
            if isinstance(chunk, TextDelta):
                pieces.append(chunk.text)
        texts.append("".join(pieces))

    await one()  # the pool's first connection and the imports, outside the count
    texts.clear()
    gate = asyncio.Semaphore(concurrency)

    async def gated() -> None:
        async with gate:
            await one()

    cpu0, wall0 = cpu_s(), time.monotonic()
    async with asyncio.TaskGroup() as group:
        for _ in range(count):
            group.create_task(gated())
    cpu, wall = cpu_s() - cpu0, time.monotonic() - wall0
    if sorted(set(texts)) != sorted(REPLIES) or len(texts) != count:
        raise RuntimeError(f"unexpected replies: {sorted(set(texts))[:3]}")
    return {
        "turns": count,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_turn": round(1000 * cpu / count, 3),
        "turns_per_cpu_s": round(count / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    machine0, wall0 = procfs.machine(), time.monotonic()
    runs = []
    with tempfile.TemporaryDirectory(prefix="vg-llm-client-") as workdir:
        emulator = start_emulator("llm", "openai", Path(workdir), 0.0, REPLIES)
        try:
            for _ in range(args.runs):
                runs.append(uvloop.run(turns(emulator.url, args.turns, args.concurrency)))
                print(json.dumps(runs[-1]), flush=True)
        finally:
            emulator.proc.stop()
    machine1 = procfs.machine()
    summary = {
        "date": dt.date.today().isoformat(),
        "label": args.label,
        "runs": runs,
        "cpu_ms_per_turn_best": min(r["cpu_ms_per_turn"] for r in runs),
        "cpu_ms_per_turn_median": sorted(r["cpu_ms_per_turn"] for r in runs)[len(runs) // 2],
        "stolen_cores": round((machine1.stolen_s - machine0.stolen_s) / (time.monotonic() - wall0), 3),
    }
    name = f"llm_client-{summary['date']}{'-' + args.label if args.label else ''}"
    out = args.out or RESULTS / f"{name}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    rows = "".join(
        f"| {i + 1} | {r['turns']} | {r['concurrency']} | {r['cpu_s']} | {r['cpu_ms_per_turn']} |\n"
        for i, r in enumerate(runs)
    )
    out.with_suffix(".md").write_text(
        f"# The LLM client's own CPU per turn, {summary['date']} {args.label}\n\n"
        "| run | turns | at once | CPU s | CPU ms per turn |\n|---|---|---|---|---|\n"
        f"{rows}\nMedian {summary['cpu_ms_per_turn_median']} ms of CPU per turn "
        f"(best {summary['cpu_ms_per_turn_best']}); stolen cores {summary['stolen_cores']}.\n"
    )
    print(f"median {summary['cpu_ms_per_turn_median']} ms CPU per turn; saved {out.name}")


if __name__ == "__main__":
    main()
