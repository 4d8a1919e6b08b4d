"""Send lateness of N paced outbound RTP streams in one process, on the one media clock.

Run: .venv/bin/python bench/media_clock.py [--streams 100,500,1000] [--seconds 10]
Each stream sends a 172-byte PCMU packet every 20 ms to a sink socket on loopback; lateness is the
time a packet leaves minus the time its stream was due. Prints p50/p99/max per N and saves JSON to
bench/results/media_clock-<date>.json. Goal: p99 <= 5 ms at 1,000 streams.
"""

import argparse
import asyncio
import json
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import uvloop

from voicegrid.telephony.media_clock import MediaClock

HEADER = struct.Struct("!BBHII")
PAYLOAD = b"\xff" * 160


class Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1


class BenchStream:
    def __init__(
        self, transport: asyncio.DatagramTransport, dest: tuple[str, int], ssrc: int, out: list[float]
    ) -> None:
        self.transport = transport
        self.dest = dest
        self.ssrc = ssrc
        self.seq = 0
        self.ts = 0
        self.out = out
        self.recording = False

    def on_tick(self, scheduled: float, now: float) -> None:
        self.transport.sendto(
            HEADER.pack(0x80, 0, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.ssrc) + PAYLOAD, self.dest
        )
        self.seq += 1
        self.ts += 160
        if self.recording:
            self.out.append(time.monotonic() - scheduled)  # the clock schedules in time.monotonic


async def measure(n: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sink_transport, sink = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    dest = sink_transport.get_extra_info("sockname")
    sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    lateness: list[float] = []
    clock = MediaClock()
    streams = [BenchStream(sender, dest, 1000 + i, lateness) for i in range(n)]
    for stream in streams:
        clock.register(stream)
    clock.start()
    await asyncio.sleep(1.0)  # warm up
    for stream in streams:
        stream.recording = True
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    for stream in streams:
        stream.recording = False
    await clock.stop()
    await asyncio.sleep(0.1)
    sender.close()
    sink_transport.close()
    ms = np.array(lateness) * 1000
    return {
        "streams": n,
        "packets": len(ms),
        "lateness_ms_p50": round(float(np.percentile(ms, 50)), 3),
        "lateness_ms_p99": round(float(np.percentile(ms, 99)), 3),
        "lateness_ms_max": round(float(ms.max()), 3),
        "cpu_share_of_one_core": round(cpu / wall, 3),
        "cpu_us_per_packet": round(cpu / max(1, len(ms)) * 1e6, 2),
        "received_by_sink": sink.received,
        "overruns": clock.overruns,
    }


async def main(counts: list[int], seconds: float) -> list[dict[str, float]]:
    rows = []
    for n in counts:
        row = await measure(n, seconds)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", default="100,500,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    results = uvloop.run(main([int(x) for x in args.streams.split(",")], args.seconds))
    report = {
        "benchmark": "media_clock",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "event_loop": "uvloop",
        "goal": "p99 <= 5 ms at 1000 streams",
        "rows": results,
    }
    out = Path(__file__).parent / "results" / f"media_clock-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
