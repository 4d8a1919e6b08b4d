"""The density benchmark: N concurrent AI calls over SIP against voicegrid, N ramping up, measured from
outside voicegrid (its processes' /proc, a tcpdump of its RTP, its call records).

Per step: SIPp (one per worker) places N calls that loop a spoken line and quiet (a turn every
7 or 9 s), all held through a measuring window; the emulators answer as Deepgram, OpenAI and Aura-2 at
published latencies. A step passes when no call failed, RTP lateness p99 <= 10 ms and the platform
share p95 <= 50 ms; the run stops at the first step that does not, and says why. Each step is also
judged against issue 21's stricter goal (GOAL), and the report says where it was met, or what missed it.
"""

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.harness import analysis_backlog, procfs, profile
from bench.harness.pcap import clock_skew_ms_per_s, lateness_ms, read_rtp
from bench.harness.processes import (
    Cluster,
    Emulator,
    Proc,
    binary,
    sipp_counts,
    start_capture,
    start_emulator,
    start_sipp,
)
from voicegrid.demo import KNOWLEDGE
from voicegrid.testing.emulators.agent import credential_body, emulated_agent

NUMBER = "+15550177"
CALLER_LINES = ["are you open tonight", "do you deliver to the harbour", "what is on the menu today"]
REPLIES = [
    "Yes, we are open until ten tonight.",
    "We deliver to the harbour district.",
    "Today we have pizza, pasta and salads.",
]
LATENESS_LIMIT_MS, PLATFORM_LIMIT_MS = 10.0, 50.0
# Issue 21's goal, stricter than a step's pass: judged and reported beside it, never instead of it.
GOAL = {"calls_per_core": 500.0, "rtp_lateness_ms_p99": 5.0, "platform_ms_p95": 10.0, "rss_mb_per_call": 0.5}
Progress = Callable[[str, float], None]  # (what is happening, fraction of the run done)


@dataclass
class LoadConfig:
    steps: list[int]
    workdir: Path
    workers: int = 2
    rate_cps: float = 20.0  # per SIPp
    settle_s: float = 5.0
    window_s: float = 30.0
    cycles_s: tuple[float, ...] = (7.0, 9.0)  # one caller cycle per worker's SIPp: a turn every 6-10 s
    stt_ms: float = 150.0  # Deepgram final after the end of speech (PROVIDER_FACTS.md)
    llm_ms: float = 400.0  # gpt-4o-mini first token
    tts_ms: float = 150.0  # Aura-2 first byte
    compare_n: int = 0  # process-per-call comparison with this many calls (0: none)
    profile: bool = False  # py-spy on the first worker through each window
    analysis: bool = False  # the load agent's calls are analysed (embedded engine) once they end
    analysis_backlog: int = 0  # calls queued for analysis before each step, worked through in its window
    suppress_silence: bool = False  # VOICEGRID_RTP_SUPPRESS_SILENCE on the workers
    stt_speech_only: bool = False  # the load agent's turn setting: the STT hears the caller's speech only


@dataclass
class Step:
    mode: str  # "one process per core" or "one process per call"
    n: int
    processes: int
    attempt: int = 1
    succeeded: int = 0
    failed: int = 0
    window_s: float = 0.0
    cpu_s_per_call_s: float | None = None
    calls_per_core: float | None = None
    rss_mb_per_call: float | None = None
    rtp_lateness_ms_p99: float | None = None
    rtp_packets: int = 0
    rtp_clock_skew_ms_per_s: float | None = None  # the capture's clock against the RTP timestamps'
    voice_to_voice_ms_p50: float | None = None
    voice_to_voice_ms_p95: float | None = None
    platform_ms_p95: float | None = None
    stt_audio_share: float | None = None  # STT audio billed over the calls' answered time
    analyses_in_window: int | None = None  # post-call analyses the workers finished in the window
    turns: int = 0
    records: int = 0
    cores: dict[str, float] = field(default_factory=dict)  # cores used in the window, by program
    profile: dict[str, Any] = field(default_factory=dict)  # py-spy of worker 0, when asked for
    passed: bool = False
    why: str = ""
    goal_missed: str = ""  # what keeps a passed step from issue 21's goal (GOAL); empty when it meets it


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def make_caller_audio(workdir: Path, cycle_s: float) -> Path:
    """caller.ulaw: the lines spoken by espeak-ng at 8 kHz mu-law, each padded with quiet to one cycle."""
    folder = workdir / f"caller-{cycle_s:g}s"
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for n, line in enumerate(CALLER_LINES):
        wav, part = folder / f"line{n}.wav", folder / f"line{n}.ulaw"
        subprocess.run([binary("espeak-ng", "espeak-ng"), "-w", str(wav), line], check=True, timeout=30)
        speech = float(
            subprocess.run(
                [binary("soxi", "sox"), "-D", str(wav)],
                check=True,
                timeout=30,
                capture_output=True,
                text=True,
            ).stdout
        )
        subprocess.run(
            [
                binary("sox", "sox"),
                str(wav),
                "-r",
                "8000",
                "-c",
                "1",
                "-e",
                "u-law",
                "-t",
                "raw",
                str(part),
                "pad",
                "0",
                f"{max(cycle_s - speech, 1.0):.3f}",
            ],
            check=True,
            timeout=30,
        )
        parts.append(part.read_bytes())
    out = folder / "caller.ulaw"
    out.write_bytes(b"".join(parts))
    return out


def configure(
    url: str,
    admin_key: str,
    business_key: str,
    emulators: dict[str, Emulator],
    analysis: bool = False,
    stt_endpointing_ms: int | None = None,
    stt_chunk_ms: int | None = None,
    stt_speech_only: bool = False,
) -> str:
    """The demo business answers +15550177 with an agent on the emulated providers, with no provider
    plan limit in the way (the platform's own density is measured, not a vendor's quota). The STT's
    own endpointing and the audio per STT message are the platform's defaults unless given."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=10)
    business = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {business_key}"}, timeout=10)
    with admin, business:
        unlimited = [
            {"stage": s, "provider": p, "slots": 100_000}
            for s, p in (("stt", "deepgram"), ("tts", "deepgram"), ("llm", "openai"))
        ]
        admin.put("/v1/capacity/provider-limits", json={"limits": unlimited}).raise_for_status()

        def credential(provider: str, base: str) -> str:
            response = business.post("/v1/credentials", json=credential_body(provider, base))
            response.raise_for_status()
            return str(response.json()["id"])

        agent = emulated_agent(
            "Load agent",
            stt=credential("deepgram", emulators["stt"].url),
            llm=credential("openai", emulators["llm"].url + "/v1"),
            tts=credential("deepgram", emulators["tts"].url),
            turn={
                "reprompt_after_s": 60,
                **({"stt_chunk_ms": stt_chunk_ms} if stt_chunk_ms else {}),
                **({"stt_speech_only": True} if stt_speech_only else {}),
            },
            knowledge_base=KNOWLEDGE,  # what the analysis matches callers' questions against
            analysis=analysis_backlog.PLAN if analysis else analysis_backlog.OFF,
        )
        if stt_endpointing_ms is not None:
            agent["stt"]["options"] = {"endpointing_ms": stt_endpointing_ms}
        created = business.post("/v1/agents", json=agent)
        created.raise_for_status()
        business.post(
            "/v1/numbers", json={"number": NUMBER, "agent_id": created.json()["id"]}
        ).raise_for_status()
        return str(created.json()["id"])


def records_since(
    cluster: Cluster, since: datetime, expected: int, wait_s: float = 20.0
) -> list[dict[str, Any]]:
    """The ended calls' records made since `since` (waiting up to `wait_s` for `expected` of them),
    read newest first a page at a time and only down to `since`: reading the whole day's records at
    every step grew with the run, and the worker that served the reads held that in its RSS, as if
    the calls had left it behind."""
    demo = json.loads((cluster.workdir / "worker0" / "demo.json").read_text())
    headers = {"Authorization": f"Bearer {demo['api_key']}"}
    deadline = time.monotonic() + wait_s
    while True:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            response = httpx.get(
                f"{cluster.http[0]}/v1/calls",
                params={"limit": 200} | ({"cursor": cursor} if cursor else {}),
                headers=headers,
                timeout=30,
            )
            response.raise_for_status()
            page = response.json()
            recent = [c for c in page["items"] if datetime.fromisoformat(c["created_at"]) >= since]
            found += [c for c in recent if c.get("latency") is not None]  # ended, its record made
            cursor = page["next_cursor"]
            if cursor is None or len(recent) < len(page["items"]):
                break
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def stt_audio_share(records: list[dict[str, Any]]) -> float | None:
    """The STT audio the records' costs bill (Deepgram bills audio sent) over the calls' answered time."""
    heard_s = sum(
        float(item["quantity"]) * 60
        for r in records
        for item in (r.get("cost") or {}).get("items", [])
        if item.get("component") == "stt" and item.get("unit") == "minute"
    )
    answered_s = sum(
        (datetime.fromisoformat(r["ended_at"]) - datetime.fromisoformat(r["answered_at"])).total_seconds()
        for r in records
        if r.get("answered_at") and r.get("ended_at")
    )
    return round(heard_s / answered_s, 3) if answered_s > 0 else None


def summarize_turns(step: Step, records: list[dict[str, Any]]) -> None:
    turns = [t for r in records for t in (r.get("latency") or {}).get("turns", [])]
    v2v = [float(t["voice_to_voice_ms"]) for t in turns if t.get("voice_to_voice_ms") is not None]
    platform = [float(t["platform_ms"]) for t in turns if t.get("platform_ms") is not None]
    step.records, step.turns = len(records), len(v2v)
    step.stt_audio_share = stt_audio_share(records)
    step.voice_to_voice_ms_p50, step.voice_to_voice_ms_p95 = pct(v2v, 50), pct(v2v, 95)
    step.platform_ms_p95 = pct(platform, 95)


def judge(step: Step) -> None:
    problems = []
    if step.failed or step.succeeded < step.n:
        problems.append(f"{step.failed} calls failed, {step.n - step.succeeded - step.failed} not completed")
    if step.rtp_lateness_ms_p99 is None or step.rtp_lateness_ms_p99 > LATENESS_LIMIT_MS:
        problems.append(f"RTP lateness p99 {step.rtp_lateness_ms_p99} ms > {LATENESS_LIMIT_MS:g}")
    if step.platform_ms_p95 is None or step.platform_ms_p95 > PLATFORM_LIMIT_MS:
        problems.append(f"platform share p95 {step.platform_ms_p95} ms > {PLATFORM_LIMIT_MS:g}")
    if step.turns == 0:
        problems.append("no turn was recorded")
    step.passed = not problems
    step.why = "; ".join(problems)
    short = (
        []
        if (step.calls_per_core or 0) >= GOAL["calls_per_core"]
        else [f"{step.calls_per_core} calls per core"]
    )
    for key in ("rtp_lateness_ms_p99", "platform_ms_p95", "rss_mb_per_call"):
        value = getattr(step, key)
        if value is None or value > GOAL[key]:
            short.append(f"{key} {value} > {GOAL[key]:g}")
    step.goal_missed = "; ".join(problems + short)


def run_step(
    mode: str,
    cluster: Cluster,
    n: int,
    config: LoadConfig,
    audio: list[Path],
    others: dict[str, list[int]],
    idle: procfs.Usage,
    per_call: bool = False,
    attempt: int = 1,
    index: int = 0,
) -> Step:
    """N calls across the cluster's workers (per_call: one call to each worker), measured in the window."""
    workers = len(cluster.workers)
    shares = [1] * workers if per_call else [n // workers + (i < n % workers) for i in range(workers)]
    ramp_s = max(shares) / config.rate_cps
    hold_ms = int((ramp_s + config.settle_s + config.window_s + 2.0) * 1000)
    # the step's index too: the same N may come again (a steady load, to see whether memory levels off)
    stepdir = cluster.workdir / f"step{index}-{mode.split()[-1]}-{n}{f'-{attempt}' if attempt > 1 else ''}"
    stepdir.mkdir()
    if config.analysis_backlog:
        demo = json.loads((cluster.workdir / "worker0" / "demo.json").read_text())
        agent_id = cluster.workdir.joinpath("load-agent").read_text()
        analysis_backlog.queue(cluster.database_url, demo["business_id"], agent_id, config.analysis_backlog)
    started_at = datetime.now(UTC) - timedelta(seconds=1)
    callers: list[Proc] = []
    for i, calls in enumerate(shares):
        if calls == 0:
            continue
        folder = stepdir / f"sipp{i}"
        folder.mkdir()
        (folder / "caller.ulaw").write_bytes(audio[i % len(audio)].read_bytes())
        callers.append(
            start_sipp(
                f"sipp{i}",
                folder,
                cluster.sip_ports[i],
                NUMBER,
                calls,
                config.rate_cps,
                hold_ms,
                media_port=20000 + (i % 40) * 500,
            )
        )
    try:
        step = Step(mode, n, workers, attempt)
        time.sleep(ramp_s + config.settle_s)
        capture = start_capture(stepdir, stepdir / "rtp.pcap", 40000, 49999)
        spy = (
            profile.record(cluster.pids[0], config.window_s, stepdir / "py-spy.txt")
            if config.profile
            else None
        )
        analysed0 = analysis_backlog.done(cluster.database_url) if config.analysis_backlog else 0
        t0 = time.time()
        programs = {"voicegrid": cluster.pids, "sipp": [c.pid for c in callers], **others}
        before = {name: procfs.total(pids).cpu_s for name, pids in programs.items()}
        machine0 = procfs.machine()
        time.sleep(config.window_s)
        after = {name: procfs.total(pids).cpu_s for name, pids in programs.items()}
        machine1 = procfs.machine()
        memory = procfs.total(cluster.pids)
        t1 = time.time()
        if config.analysis_backlog:
            step.analyses_in_window = analysis_backlog.done(cluster.database_url) - analysed0
        capture.stop(timeout_s=10)
        if spy is not None:
            spy.popen.wait(timeout=30)
            step.profile = profile.summarize((stepdir / "py-spy.txt").read_text(errors="replace"))
        step.window_s = round(t1 - t0, 2)
        step.cores = {name: round((after[name] - before[name]) / step.window_s, 3) for name in programs}
        step.cores["machine"] = round((machine1.busy_s - machine0.busy_s) / step.window_s, 3)
        # A virtual machine's host can take cores away: lateness then is not voicegrid's doing.
        step.cores["stolen"] = round((machine1.stolen_s - machine0.stolen_s) / step.window_s, 3)
        used = after["voicegrid"] - before["voicegrid"]
        step.cpu_s_per_call_s = round(used / (n * step.window_s), 6)
        step.calls_per_core = round(1 / step.cpu_s_per_call_s, 1) if used > 0 else None
        # Shared workers: what N calls added to the idle workers' RSS. One process per call: all of it,
        # since each process exists for its call.
        grown = memory.rss_bytes if per_call else memory.rss_bytes - idle.rss_bytes
        step.rss_mb_per_call = round(grown / n / 2**20, 3)
        packets = list(read_rtp((stepdir / "rtp.pcap").read_bytes()))
        late = lateness_ms(packets, t0 + 0.5, t1 - 0.5)
        step.rtp_packets, step.rtp_lateness_ms_p99 = len(late), pct(late, 99)
        step.rtp_clock_skew_ms_per_s = clock_skew_ms_per_s(packets, t0 + 0.5, t1 - 0.5)
        for caller in callers:
            caller.popen.wait(timeout=hold_ms / 1000 + 120)
    except BaseException:  # an interrupted step leaves no caller behind
        for caller in callers:
            caller.stop(timeout_s=5)
        raise
    counts = [sipp_counts(stepdir / f"sipp{i}") for i in range(workers) if shares[i]]
    step.succeeded, step.failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
    summarize_turns(step, records_since(cluster, started_at, step.succeeded))
    judge(step)
    return step


def stop_reason(step: Step, cores: int) -> str:
    """Why the run stopped at this step: the machine (and which program used it most), or voicegrid."""
    if step.passed:
        return "every step passed: the last step configured was reached"
    load = step.cores
    if load.get("machine", 0) >= 0.9 * cores:
        others = {k: v for k, v in load.items() if k not in ("machine", "stolen")}
        top = max(others, key=lambda k: others[k])
        spread = ", ".join(f"{k} {v:.2f}" for k, v in sorted(others.items(), key=lambda kv: -kv[1]))
        return (
            f"the machine was saturated ({load['machine']:.2f} of {cores} cores busy; cores by program: "
            f"{spread}); the biggest user was {top}: {step.why}"
        )
    busy, stolen = load.get("machine", 0), load.get("stolen", 0)
    return (
        f"voicegrid missed a goal with cores to spare ({busy:.2f} of {cores} busy, {stolen:.2f} of them "
        f"stolen by the virtual machine's host): {step.why}"
    )


def worker_settings(config: LoadConfig) -> dict[str, str]:
    return {"VOICEGRID_RTP_SUPPRESS_SILENCE": "true"} if config.suppress_silence else {}


def run(config: LoadConfig, progress: Progress = lambda _what, _done: None) -> dict[str, Any]:
    config.workdir.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    total_steps = len(config.steps) + (1 if config.compare_n else 0)
    progress("making the caller's audio", 0.0)
    audio = [make_caller_audio(config.workdir, c) for c in config.cycles_s]
    emulators = {
        "stt": start_emulator("stt", "deepgram", config.workdir, config.stt_ms, CALLER_LINES, jitter_ms=20),
        "llm": start_emulator("llm", "openai", config.workdir, config.llm_ms, REPLIES, jitter_ms=40),
        "tts": start_emulator("tts", "deepgram", config.workdir, config.tts_ms, [], jitter_ms=20),
    }
    others = {"emulators": [e.proc.pid for e in emulators.values()]}
    steps: list[Step] = []
    cluster = Cluster(config.workdir, settings=worker_settings(config))
    idle_mb: float | None = None
    try:
        progress(f"starting {config.workers} voicegrid workers", 0.02)
        cluster.add_worker(demo=True)
        cluster.wait_ready()
        demo = json.loads((cluster.workdir / "worker0" / "demo.json").read_text())
        agent_id = configure(
            cluster.http[0],
            cluster.admin_key,
            demo["api_key"],
            emulators,
            config.analysis,
            stt_speech_only=config.stt_speech_only,
        )
        (cluster.workdir / "load-agent").write_text(agent_id)
        for _ in range(config.workers - 1):
            cluster.add_worker()
        cluster.wait_ready()
        time.sleep(3.0)  # imports settle, the first GC runs: the baseline RSS is an idle worker's
        idle = procfs.total(cluster.pids)
        idle_mb = round(idle.rss_bytes / len(cluster.pids) / 2**20, 1)
        for index, n in enumerate(config.steps):
            # A step that misses runs once more: on a shared machine one disturbance (another
            # program's burst) must not end the run; both attempts are kept in the results.
            for attempt in (1, 2):
                progress(f"{n} calls on {config.workers} workers", (index + 0.05) / total_steps)
                step = run_step(
                    "one process per core",
                    cluster,
                    n,
                    config,
                    audio,
                    others,
                    idle,
                    attempt=attempt,
                    index=index,
                )
                steps.append(step)
                verdict = "passed" if step.passed else "missed: " + step.why
                progress(f"{n} calls: {verdict}", (index + 1) / total_steps)
                time.sleep(3.0)
                if step.passed:
                    break
            if not step.passed:
                break
        cluster.stop()
        if config.compare_n:
            steps.append(compare(config, emulators, audio, others, progress, total_steps))
    finally:
        cluster.stop()
        for emulator in emulators.values():
            emulator.proc.stop()
    summary = summarize(config, steps, cores)
    summary["idle_worker_rss_mb"] = idle_mb
    return summary


def compare(
    config: LoadConfig,
    emulators: dict[str, Emulator],
    audio: list[Path],
    others: dict[str, list[int]],
    progress: Progress,
    total_steps: int,
) -> Step:
    """The same load with one VoiceSession per OS process: one voicegrid process per call."""
    n = config.compare_n
    progress(f"process per call: starting {n} voicegrid processes", (total_steps - 1) / total_steps)
    cluster = Cluster(config.workdir / "per-call", settings=worker_settings(config))
    cluster.workdir.mkdir(parents=True, exist_ok=True)
    try:
        cluster.add_worker(demo=True, rtp_ports=20)
        cluster.wait_ready()
        demo = json.loads((cluster.workdir / "worker0" / "demo.json").read_text())
        configure(
            cluster.http[0],
            cluster.admin_key,
            demo["api_key"],
            emulators,
            stt_speech_only=config.stt_speech_only,
        )
        for _ in range(n - 1):
            cluster.add_worker(rtp_ports=20)
        cluster.wait_ready()
        time.sleep(3.0)
        idle = procfs.total(cluster.pids)
        step = run_step("one process per call", cluster, n, config, audio, others, idle, per_call=True)
    finally:
        cluster.stop()
    progress(f"process per call: {step.calls_per_core} calls per core", 1.0)
    return step


def summarize(config: LoadConfig, steps: list[Step], cores: int) -> dict[str, Any]:
    shared = [s for s in steps if s.mode == "one process per core"]
    passed = [s for s in shared if s.passed]
    failed = sum(s.failed for s in shared)
    best = passed[-1] if passed else None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine_cores": cores,
        "workers": config.workers,
        "emulated_ms": {
            "stt_final": config.stt_ms,
            "llm_first_token": config.llm_ms,
            "tts_first_byte": config.tts_ms,
        },
        "window_s": config.window_s,
        "settings": worker_settings(config),
        "agent_turn": {"stt_speech_only": True} if config.stt_speech_only else {},
        "calls_per_core": best.calls_per_core if best else None,
        "rss_mb_per_call": best.rss_mb_per_call if best else None,
        "platform_ms_p95": best.platform_ms_p95 if best else None,
        "voice_to_voice_ms_p50": best.voice_to_voice_ms_p50 if best else None,
        "voice_to_voice_ms_p95": best.voice_to_voice_ms_p95 if best else None,
        "rtp_lateness_ms_p99": best.rtp_lateness_ms_p99 if best else None,
        "failed_calls": failed,
        "max_n": max((s.n for s in shared), default=0),
        "best_n": best.n if best else None,
        "goal": GOAL,
        "goal_met_at_n": max((s.n for s in passed if not s.goal_missed), default=None),
        "goal_missed_at_best": best.goal_missed if best else "no step passed",
        "stopped_because": stop_reason(shared[-1], cores) if shared else "no step ran",
        "steps": [asdict(s) for s in steps],
    }
