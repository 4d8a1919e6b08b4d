"""Density over Twilio Media Streams: N concurrent AI calls as WebSocket streams against one voicegrid
process pinned to one core, N ramping up, measured from outside voicegrid.

Run: .venv/bin/python bench/streams.py [--steps 100,200,300,400] [--window-s 30] [--profile]
The peer workload (the same against any server that speaks the protocol): each call is a Twilio
Media Stream (connected, start with the key and agent as custom parameters, 20 ms mu-law media frames
on an absolute schedule) whose caller says a 1.5 s line every 8 s; the emulators answer as Deepgram
live STT (final 150 ms after speech), an OpenAI-compatible LLM (first token 400 ms) and Deepgram Aura
(first byte 150 ms). voicegrid runs on core 0; the caller generator and the emulators on the other
core(s), at a lower priority. Per step: the worker's CPU over the window (its /proc), calls per core,
voice-to-voice p50/p95 as the caller hears it (from the end of its line to the reply's first media
frame), failed calls (a stream closed before its time, or never answered), and how late the
generator's own frames left (a late generator is not the server's fault: the step says so).
Saves bench/results/streams-<date>.json and .md; `--profile` adds py-spy's view of the worker.
"""

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for bench.harness

from bench.harness import procfs, profile
from bench.harness.harness import CALLER_LINES, REPLIES, configure, make_caller_audio, pct
from bench.harness.processes import Cluster, Proc, start_emulator
from voicegrid.media.g711 import ulaw_decode

FRAME = 160  # 20 ms of 8 kHz mu-law
CYCLE_S = 8.0


@dataclass
class StreamStep:
    n: int
    window_s: float
    calls_per_core: float | None = None
    cores: float | None = None
    rss_mb: float | None = None
    failed: int = 0
    unanswered: int = 0
    turns: int = 0
    v2v_ms_p50: float | None = None
    v2v_ms_p95: float | None = None
    generator_late_ms_p99: float | None = None
    stolen_cores: float | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    passed: bool = False
    why: str = ""
    spy: Proc | None = field(default=None, repr=False)  # py-spy, when asked for: read once it ends


class Caller:
    """One stream: sends its line and quiet on the shared tick, notes when each line ended and when
    the reply's first frame came."""

    def __init__(self, index: int, frames: list[str], line_ends: list[int]) -> None:
        self.index, self.sid = index, f"MZbench{index:05d}"
        self.frames, self.line_ends = frames, line_ends
        self.ws: ClientConnection | None = None
        self.offset = index * 37  # callers are spread over the cycle, not all speaking at once
        self.said_at: float | None = None  # when the last line ended
        self.v2v_ms: list[float] = []
        self.closed_early = False
        self.answered = False

    async def open(self, url: str, api_key: str, agent_id: str) -> None:
        try:  # a stream the server refuses or drops is a failed call of the step, not the end of the run
            await self._open(url, api_key, agent_id)
        except (OSError, ConnectionClosed, TimeoutError):
            self.closed_early = True

    async def _open(self, url: str, api_key: str, agent_id: str) -> None:
        self.ws = await connect(url, open_timeout=30, max_size=2**20, compression=None)
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        params = {"api_key": api_key, "agent_id": agent_id, "from": "+15550142", "to": "+15550177"}
        start = {"streamSid": self.sid, "callSid": "CA" + self.sid[2:], "customParameters": params,
                 "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}  # fmt: skip
        await self.ws.send(json.dumps({"event": "start", "streamSid": self.sid, "start": start}))

    async def listen(self, measuring: "Window") -> None:
        if self.ws is None:
            return  # never opened: counted as closed early
        try:
            async for message in self.ws:
                if isinstance(message, bytes) or '"media"' not in message:
                    continue
                self.answered = True
                if self.said_at is not None:
                    if measuring.open:
                        self.v2v_ms.append((time.monotonic() - self.said_at) * 1000)
                    self.said_at = None
        except ConnectionClosed:
            pass
        if not measuring.stopping:
            self.closed_early = True

    def tick(self, n: int, now: float) -> str | None:
        position = (n + self.offset) % len(self.frames)
        if position in self.line_ends:
            self.said_at = now
        return self.frames[position].replace("{sid}", self.sid, 1)


@dataclass
class Window:
    open: bool = False
    stopping: bool = False


def caller_frames(workdir: Path) -> tuple[list[str], list[int]]:
    """One cycle of the caller's audio as media messages ({sid} to fill), and the frame its line ends at."""
    audio = make_caller_audio(workdir, CYCLE_S).read_bytes()
    cycle = audio[: int(CYCLE_S * 8000)]  # the first line and its quiet: one turn every 8 s
    frames, last_voiced = [], 0
    for i in range(0, len(cycle) - FRAME + 1, FRAME):
        chunk = cycle[i : i + FRAME]
        if int(np.abs(ulaw_decode(chunk).astype(np.int32)).max()) > 300:  # speech, not padding
            last_voiced = len(frames)
        payload = base64.b64encode(chunk).decode()
        frames.append(json.dumps({"event": "media", "streamSid": "{sid}", "media": {"track": "inbound",
                                  "payload": payload}}))  # fmt: skip
    return frames, [last_voiced + 1]


async def drive(
    n: int, url: str, api_key: str, agent_id: str, frames: list[str], ends: list[int], settle_s: float,
    window_s: float, worker_pid: int, profile_out: Path | None,
) -> StreamStep:  # fmt: skip
    step = StreamStep(n, window_s)
    window = Window()
    callers = [Caller(i, frames, ends) for i in range(n)]
    for start in range(0, n, 25):  # 25 new streams at a time, as a carrier ramps
        await asyncio.gather(*(c.open(url, api_key, agent_id) for c in callers[start : start + 25]))
    listeners = [asyncio.ensure_future(c.listen(window)) for c in callers]
    late: list[float] = []
    began = time.monotonic()
    window_at, end_at = began + settle_s, began + settle_s + window_s
    usage = None
    machine = None
    spy = None
    tick = 0
    while True:
        due = began + tick * 0.020
        now = time.monotonic()
        if now < due:
            await asyncio.sleep(due - now)
            now = time.monotonic()
        if not window.open and now >= window_at:
            window.open, usage, machine = True, procfs.usage(worker_pid), procfs.machine()
            if profile_out is not None:
                spy = profile.record(worker_pid, window_s, profile_out)
        if now >= end_at:
            break
        if window.open:
            late.append((now - due) * 1000)
        for caller in callers:
            message = caller.tick(tick, now)
            if message is not None and caller.ws is not None and not caller.closed_early:
                try:
                    await caller.ws.send(message)
                except ConnectionClosed:
                    caller.closed_early = True
        tick += 1
    assert usage is not None
    assert machine is not None
    after, machine_after = procfs.usage(worker_pid), procfs.machine()
    window.stopping = True
    for caller in callers:
        if caller.ws is not None:
            with_stop = json.dumps({"event": "stop", "streamSid": caller.sid})
            try:
                await caller.ws.send(with_stop)
                await caller.ws.close()
            except ConnectionClosed:
                pass
    await asyncio.gather(*listeners, return_exceptions=True)
    step.spy = spy
    cpu = after.cpu_s - usage.cpu_s
    step.cores = round(cpu / window_s, 3)
    step.calls_per_core = round(n / step.cores, 1) if step.cores else None
    step.rss_mb = round(after.rss_bytes / 2**20, 1)
    step.stolen_cores = round((machine_after.stolen_s - machine.stolen_s) / window_s, 3)
    step.failed = sum(c.closed_early for c in callers)
    step.unanswered = sum(not c.answered for c in callers)
    v2v = [ms for c in callers for ms in c.v2v_ms]
    step.turns = len(v2v)
    step.v2v_ms_p50, step.v2v_ms_p95 = pct(v2v, 50), pct(v2v, 95)
    step.generator_late_ms_p99 = pct(late, 99)
    problems = []
    if step.failed or step.unanswered:
        problems.append(f"{step.failed} streams closed early, {step.unanswered} never answered")
    if step.v2v_ms_p95 is None or step.v2v_ms_p95 > 1200:
        problems.append(f"v2v p95 {step.v2v_ms_p95} ms > 1200")
    if (step.generator_late_ms_p99 or 0) > 20:
        problems.append(
            f"the generator itself ran {step.generator_late_ms_p99} ms late (p99): not a fair step"
        )
    step.passed, step.why = not problems, "; ".join(problems)
    return step


def markdown(summary: dict[str, Any]) -> str:
    rows = [
        "| N | calls/core | cores | RSS MB | failed | unanswered | turns | v2v p50 ms | v2v p95 ms "
        "| generator late p99 ms | stolen cores | passed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary["steps"]:
        rows.append(
            f"| {s['n']} | {s['calls_per_core']} | {s['cores']} | {s['rss_mb']} | {s['failed']} | "
            f"{s['unanswered']} | {s['turns']} | {s['v2v_ms_p50']} | {s['v2v_ms_p95']} | "
            f"{s['generator_late_ms_p99']} | {s['stolen_cores']} | {'yes' if s['passed'] else s['why']} |"
        )
    agent = summary.get("agent", {})
    turns = (
        ", ".join(f"{k} {v}" for k, v in agent.items() if v not in (None, False)) or "the platform's defaults"
    )
    lines = ["\n".join(rows), "", f"Best: {summary['best']}. The agent's STT settings: {turns}.", ""]
    for s in summary["steps"]:
        prof = s.get("profile") or {}
        if prof.get("samples"):
            lines.append(f"Where the worker's time went at N = {s['n']} (py-spy, {prof['samples']} samples):")
            lines += [f"- {k}: {v}%" for k, v in prof.get("parts_percent", {}).items()]
            busiest = "; ".join(f"{k} {v}%" for k, v in prof.get("own_percent", {}).items())
            lines += ["", f"Busiest functions (own time): {busiest}", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="100,200,300,400")
    parser.add_argument("--window-s", type=float, default=30.0)
    parser.add_argument("--settle-s", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--stt-endpointing-ms", type=int, default=None, help="the STT's own endpointing")
    parser.add_argument("--stt-chunk-ms", type=int, default=None, help="caller audio per STT message")
    parser.add_argument(
        "--stt-speech-only", action="store_true", help="the STT hears the caller's speech only"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="voicegrid-streams-"))
    cores = os.cpu_count() or 1
    others = set(range(1, cores)) or {0}
    os.sched_setaffinity(0, others)  # the generator: not on the server's core
    frames, ends = caller_frames(workdir)
    emulators = {
        "stt": start_emulator("stt", "deepgram", workdir, 150, CALLER_LINES[:1], jitter_ms=20),
        "llm": start_emulator("llm", "openai", workdir, 400, REPLIES[:1], jitter_ms=40),
        "tts": start_emulator("tts", "deepgram", workdir, 150, [], jitter_ms=20),
    }
    for emulator in emulators.values():
        os.sched_setaffinity(emulator.proc.pid, others)
    cluster = Cluster(workdir)
    results: list[StreamStep] = []
    try:
        worker = cluster.add_worker(demo=True)
        os.sched_setaffinity(worker.pid, {0})  # one core: the server under test
        cluster.wait_ready()
        demo = json.loads((workdir / "worker0" / "demo.json").read_text())
        agent_id = configure(
            cluster.http[0], cluster.admin_key, demo["api_key"], emulators,
            stt_endpointing_ms=args.stt_endpointing_ms, stt_chunk_ms=args.stt_chunk_ms,
            stt_speech_only=args.stt_speech_only,
        )  # fmt: skip
        time.sleep(3.0)
        idle_mb = round(procfs.usage(worker.pid).rss_bytes / 2**20, 1)
        url = cluster.http[0].replace("http://", "ws://") + "/v1/media-streams/twilio"
        for n in steps:
            spy = workdir / f"profile-{n}.txt" if args.profile else None
            step = uvloop.run(
                drive(
                    n,
                    url,
                    demo["api_key"],
                    agent_id,
                    frames,
                    ends,
                    args.settle_s,
                    args.window_s,
                    worker.pid,
                    spy,
                )
            )
            if step.spy is not None and spy is not None:
                step.spy.finish(timeout_s=args.window_s + 30)
                step.profile = profile.summarize(spy.read_text()) if spy.exists() else {}
                step.spy = None
            results.append(step)
            print(f"{n} streams: {step.calls_per_core} calls per core, v2v p50 {step.v2v_ms_p50} p95 "
                  f"{step.v2v_ms_p95} ms, {'passed' if step.passed else 'missed: ' + step.why}", flush=True)  # fmt: skip
            time.sleep(5.0)  # the calls end and their records are written before the next step
            if not step.passed:
                break
    finally:
        cluster.stop()
        for emulator in emulators.values():
            emulator.proc.stop()
    passed = [s for s in results if s.passed]
    best = f"{passed[-1].calls_per_core} calls per core at N = {passed[-1].n}" if passed else "no step passed"
    summary = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine_cores": cores,
               "idle_worker_rss_mb": idle_mb, "best": best,
               "agent": {
                   "stt_endpointing_ms": args.stt_endpointing_ms,
                   "stt_chunk_ms": args.stt_chunk_ms,
                   "stt_speech_only": args.stt_speech_only,
               },
               "steps": [{k: v for k, v in asdict(s).items() if k != "spy"} for s in results]}  # fmt: skip
    date = datetime.now(UTC).date().isoformat()
    out = args.out or Path(__file__).parent / "results" / f"streams-{date}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(summary))
    print(markdown(summary))
    print(f"wrote {out} (work files: {workdir})")


if __name__ == "__main__":
    main()
