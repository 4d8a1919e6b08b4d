"""How long a reply's piece waits for its first audio from ElevenLabs, over a link with a round trip.

The ElevenLabs emulator (first byte at `--first-byte-ms`) sits behind a TCP relay on loopback that
holds every chunk for half of `--rtt-ms` each way, as a link to the vendor would. `--pieces` pieces
are said one after the other, the way a call's replies come: on the call's one connection (how the
client works since 2026-12-04), and with a new client for every piece, which opens a connection
for each (TCP and WebSocket handshakes: the cost the stream-input client paid on every piece; TLS
would add one more round trip). Prints and saves the median and p95 wait from `synthesize()` to the
first audio, with the machine's stolen time.

Run: .venv/bin/python bench/tts_first_audio.py [--rtt-ms 40] [--pieces 30] [--first-byte-ms 75]
Saves bench/results/tts_first_audio-<date>.json.
"""

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import procfs
from voicegrid.core.egress import PERMISSIVE
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.registry import build_tts
from voicegrid.providers.tts.base import TtsStage
from voicegrid.testing.emulators import ElevenLabsEmulator

KEY = "bench-key"
TEXT = "We are open until ten tonight."


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Forward what `reader` gets to `writer`, each chunk `delay_s` after it came (order kept)."""
    loop = asyncio.get_running_loop()
    try:
        while chunk := await reader.read(65536):
            loop.call_later(delay_s, writer.write, chunk)
        await asyncio.sleep(delay_s)
    finally:
        writer.close()


async def relay(target_port: int, one_way_s: float) -> asyncio.Server:
    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(one_way_s)  # the SYN's way there; connect() below is its way back
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_pipe(client_r, server_w, one_way_s))
            tg.create_task(_pipe(server_r, client_w, one_way_s))

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def first_audio_s(tts: TtsStage) -> float:
    started = time.monotonic()
    waited = 0.0
    async for _ in tts.synthesize(TEXT, 8000, Meter()):
        waited = waited or time.monotonic() - started
    return waited


async def measure(rtt_ms: float, pieces: int, first_byte_ms: float) -> dict[str, object]:
    emulator = ElevenLabsEmulator(api_key=KEY, first_byte_ms=first_byte_ms)
    await emulator.start()
    server = await relay(emulator.port, rtt_ms / 2000)
    port = server.sockets[0].getsockname()[1]
    config = ProviderConfig(
        "elevenlabs", api_key=KEY, base_url=f"ws://127.0.0.1:{port}", destinations=PERMISSIVE
    )
    results: dict[str, object] = {}
    try:
        call = build_tts([config])
        kept = [await first_audio_s(call) for _ in range(pieces)]
        await call.aclose()
        fresh: list[float] = []
        for _ in range(pieces):
            one = build_tts([config])
            fresh.append(await first_audio_s(one))
            await one.aclose()
        for name, waits in (("one connection per call", kept), ("a connection per piece", fresh)):
            ms = sorted(w * 1000 for w in waits)
            results[name] = {
                "median_ms": round(statistics.median(ms), 1),
                "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
                "first_piece_ms": round(waits[0] * 1000, 1),
            }
        results["connections"] = emulator.requests
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await emulator.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    parser.add_argument("--pieces", type=int, default=30)
    parser.add_argument("--first-byte-ms", type=float, default=75.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    before, wall = procfs.machine(), time.monotonic()
    results = uvloop.run(measure(args.rtt_ms, args.pieces, args.first_byte_ms))
    stolen = (procfs.machine().stolen_s - before.stolen_s) / (time.monotonic() - wall)
    date = datetime.now(UTC).date().isoformat()
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rtt_ms": args.rtt_ms,
        "pieces": args.pieces,
        "first_byte_ms": args.first_byte_ms,
        "stolen_cores": round(stolen, 3),
        "results": results,
    }
    print(json.dumps(summary, indent=2))
    out = args.out or Path(__file__).parent / "results" / f"tts_first_audio-{date}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
