"""Admissions per second per core, on each capacity backend.

Run: .venv/bin/python bench/admission.py [--seconds 5] [--concurrency 64]

For each backend (in-process; Redis, with a real redis-server started on loopback) it runs
`concurrency` asyncio tasks in one process, each admitting a call against a business and a reseller
limit and releasing it again, for `seconds`; then the same with provider slots (acquire and release
in a weighted fair pool shared by three businesses). It reports:

  per_s            admissions (or slot grants) per second of wall time
  per_core_s       per CPU-second of this process (the voicegrid side: what one core sustains)
  redis_cpu_us     redis-server's CPU per operation, from /proc (Redis is single-threaded)

The limits are set high enough that nothing is refused: this measures the cost of a decision, not
of waiting. Saves bench/results/admission-<date>.json.
"""

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicegrid.capacity.backend import Backend, PoolSpec
from voicegrid.capacity.leases import Lease, Limit
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.capacity.shared import RedisBackend
from voicegrid.testing.redis_server import RedisServer, start_redis

RESULTS = Path(__file__).resolve().parent / "results"
LIMITS = [
    Limit("business:bench", 1_000_000, "business max_concurrent_calls"),
    Limit("reseller:bench", 1_000_000, "reseller max_concurrent_calls"),
]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_for(seconds: float, concurrency: int, one: Callable[[int], Awaitable[None]]) -> int:
    done = 0
    stop = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        while time.monotonic() < stop:
            await one(n)
            done += 1

    async with asyncio.TaskGroup() as group:
        for n in range(concurrency):
            group.create_task(worker(n))
    return done


async def measure(
    backend: Backend, name: str, seconds: float, concurrency: int, redis: RedisServer | None
) -> list[dict[str, Any]]:
    rows = []
    await backend.configure(PoolSpec("tts:bench", 1_000_000, {"a": 1, "b": 1, "c": 2}))

    async def admit(_: int) -> None:
        lease = await backend.admit(LIMITS, "inbound")
        assert isinstance(lease, Lease), lease
        await backend.release(lease)

    async def slot(n: int) -> None:
        held = await backend.acquire_slot("tts:bench", "abc"[n % 3], 1.0)
        await backend.release_slot(held)

    for operation, one in (("admission", admit), ("provider_slot", slot)):
        await run_for(0.5, concurrency, one)  # warm up: scripts loaded, connections open
        wall0, cpu0 = time.monotonic(), time.process_time()
        redis0 = cpu_seconds(redis.process.pid) if redis else 0.0
        count = await run_for(seconds, concurrency, one)
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
        redis_cpu = (cpu_seconds(redis.process.pid) - redis0) if redis else 0.0
        row = {
            "backend": name,
            "operation": operation,
            "concurrency": concurrency,
            "count": count,
            "per_s": round(count / wall),
            "per_core_s": round(count / cpu),
            "redis_cpu_us": round(redis_cpu / count * 1e6, 1) if redis else None,
        }
        rows.append(row)
        print(
            f"{name:7} {operation:14} {row['per_s']:>9,}/s wall  {row['per_core_s']:>9,}/s per core"
            + (f"  redis {row['redis_cpu_us']} us/op" if redis else "")
        )
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    rows = await measure(MemoryBackend(), "memory", args.seconds, args.concurrency, None)
    redis = start_redis()
    try:
        backend = RedisBackend(redis.url, node_id="bench", max_connections=args.concurrency)
        await backend.start()
        try:
            rows += await measure(backend, "redis", args.seconds, args.concurrency, redis)
        finally:
            await backend.aclose()
    finally:
        redis.stop()
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": args.seconds,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"admission-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    asyncio.run(main())
