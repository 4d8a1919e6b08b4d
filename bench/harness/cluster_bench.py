"""The cluster benchmark: the density benchmark's AI calls, through Kamailio to 1, 2 and 3 nodes
sharing Redis and PostgreSQL, all started for real (`voicegrid.cluster`).

Per node count: a fresh cluster; the demo business answers with an agent on the emulated providers;
SIPp places N calls through the edge and holds them through a measuring window. Measured from
/proc: the CPU of the nodes, Kamailio (all its processes), Redis and PostgreSQL (all its backends),
so calls per core of the whole set; Kamailio's CPU per call over the step (it only signals: set-up
and tear-down); admission time from the nodes' `voicegrid_admission_seconds`; call set-up time
(INVITE in to 200 out, at the node) from the call records.
"""

import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.harness import procfs
from bench.harness.harness import (
    CALLER_LINES,
    NUMBER,
    REPLIES,
    LoadConfig,
    Progress,
    configure,
    make_caller_audio,
    pct,
)
from bench.harness.processes import GENERATOR_NICE, Emulator, Proc, sipp_counts, start_emulator, start_sipp
from voicegrid.cluster.up import Cluster, start_cluster

BUCKET = re.compile(r'^voicegrid_admission_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', re.M)
TOTALS = re.compile(r"^voicegrid_admission_seconds_(sum|count) ([0-9.e+]+)$", re.M)


@dataclass
class ClusterStep:
    nodes: int
    n: int
    succeeded: int = 0
    failed: int = 0
    window_s: float = 0.0
    cores: dict[str, float] = field(default_factory=dict)  # by program, over the window
    calls_per_core: float | None = None  # held calls / cores of nodes + kamailio + redis + postgres
    kamailio_cpu_ms_per_call: float | None = None  # over the whole step: set-up, hold, tear-down
    admission_ms_mean: float | None = None
    admission_ms_p95: float | None = None  # from the histogram's buckets (an upper bound)
    setup_ms_p50: float | None = None
    setup_ms_p95: float | None = None


def _admission(cluster: Cluster) -> tuple[dict[float, float], float, float]:
    """The nodes' admission histograms, summed: cumulative bucket counts, sum and count."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for node in cluster.nodes:
        text = httpx.get(
            node.url + "/metrics", headers={"Authorization": f"Bearer {cluster.shared.admin_key}"}, timeout=10
        ).text
        for le, value in BUCKET.findall(text):
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(value)
        for name, value in TOTALS.findall(text):
            total, count = (total + float(value), count) if name == "sum" else (total, count + float(value))
    return buckets, total, count


def _p95(before: dict[float, float], after: dict[float, float]) -> float | None:
    grown = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in after}
    everything = grown.get(float("inf"), 0.0)
    if everything <= 0:
        return None
    return next((b for b in sorted(grown) if grown[b] >= 0.95 * everything), None)


def _setup_ms(cluster: Cluster, since: datetime) -> list[float]:
    business, key = cluster.demo["business_id"], cluster.demo["api_key"]
    first = (since - timedelta(days=1)).date().isoformat()
    last = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    response = httpx.get(
        f"{cluster.nodes[0].url}/v1/businesses/{business}/calls/export",
        params={"from": first, "to": last, "format": "csv"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    response.raise_for_status()
    out = []
    for row in csv.DictReader(io.StringIO(response.text)):
        if row.get("created_at") and row.get("answered_at"):
            created = datetime.fromisoformat(row["created_at"])
            if created >= since:
                out.append((datetime.fromisoformat(row["answered_at"]) - created).total_seconds() * 1000)
    return out


def run_nodes(nodes: int, config: LoadConfig, emulators: dict[str, Emulator], audio: Path) -> ClusterStep:
    workdir = config.workdir / f"cluster-{nodes}"
    env = {
        "VOICEGRID_ALLOW_PRIVATE_DESTINATIONS": "true",
        "VOICEGRID_INVITE_RATE_PER_SOURCE": "100000",
        "VOICEGRID_LOG_LEVEL": "warning",
        "VOICEGRID_DRAIN_SECONDS": "5",
    }
    cluster = start_cluster(nodes, workdir, env=env, flood_per_2s=1_000_000)
    try:
        configure(cluster.nodes[0].url, cluster.shared.admin_key, cluster.demo["api_key"], emulators)
        assert cluster.edge is not None
        n = config.steps[0]
        step = ClusterStep(nodes, n)
        ramp_s = n / config.rate_cps
        hold_ms = int((ramp_s + config.settle_s + config.window_s + 2.0) * 1000)
        callers = workdir / "sipp"
        callers.mkdir()
        (callers / "caller.ulaw").write_bytes(audio.read_bytes())
        edge_pid = cluster.edge.process.pid
        programs: dict[str, Callable[[], list[int]]] = {
            "nodes": lambda: [p for node in cluster.nodes for p in procfs.family(node.pid)],
            "kamailio": lambda: procfs.family(edge_pid),
            "redis": lambda: [cluster.redis.process.pid],
            "postgres": lambda: procfs.family(cluster.postgres.postmaster_pid or 0),
        }
        since = datetime.now(UTC) - timedelta(seconds=1)
        edge_start = procfs.total(programs["kamailio"]()).cpu_s
        admission0 = _admission(cluster)
        sipp: Proc = start_sipp(
            "sipp", callers, cluster.edge.port, NUMBER, n, config.rate_cps, hold_ms, media_port=20000
        )
        try:
            time.sleep(ramp_s + config.settle_s)
            pids = {name: find() for name, find in programs.items()}
            before = {name: procfs.total(p).cpu_s for name, p in pids.items()}
            t0 = time.monotonic()
            time.sleep(config.window_s)
            after = {name: procfs.total(p).cpu_s for name, p in pids.items()}
            step.window_s = round(time.monotonic() - t0, 2)
            sipp.popen.wait(timeout=hold_ms / 1000 + 120)
        finally:
            sipp.stop(timeout_s=5)
        time.sleep(2.0)  # the last BYEs
        step.succeeded, step.failed = sipp_counts(callers)
        step.cores = {k: round((after[k] - before[k]) / step.window_s, 3) for k in before}
        used = sum(step.cores.values())
        step.calls_per_core = round(n / used, 1) if used > 0 else None
        edge_used = procfs.total(programs["kamailio"]()).cpu_s - edge_start
        step.kamailio_cpu_ms_per_call = round(edge_used * 1000 / max(1, step.succeeded + step.failed), 2)
        admission1 = _admission(cluster)
        count = admission1[2] - admission0[2]
        if count > 0:
            step.admission_ms_mean = round((admission1[1] - admission0[1]) / count * 1000, 3)
            p95 = _p95(admission0[0], admission1[0])
            step.admission_ms_p95 = round(p95 * 1000, 3) if p95 is not None else None
        setups = _setup_ms(cluster, since)
        step.setup_ms_p50, step.setup_ms_p95 = pct(setups, 50), pct(setups, 95)
        return step
    finally:
        cluster.stop()


def run(config: LoadConfig, node_counts: list[int], progress: Progress) -> dict[str, Any]:
    config.workdir.mkdir(parents=True, exist_ok=True)
    progress("making the caller's audio", 0.0)
    audio = make_caller_audio(config.workdir, config.cycles_s[0])
    emulators = {
        "stt": start_emulator("stt", "deepgram", config.workdir, config.stt_ms, CALLER_LINES, jitter_ms=20),
        "llm": start_emulator("llm", "openai", config.workdir, config.llm_ms, REPLIES, jitter_ms=40),
        "tts": start_emulator("tts", "deepgram", config.workdir, config.tts_ms, [], jitter_ms=20),
    }
    steps = []
    try:
        for index, nodes in enumerate(node_counts):
            progress(f"{config.steps[0]} calls through Kamailio to {nodes} node(s)", index / len(node_counts))
            steps.append(run_nodes(nodes, config, emulators, audio))
    finally:
        for emulator in emulators.values():
            emulator.proc.stop()
    progress("done", 1.0)
    return {
        "benchmark": "cluster",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "calls": config.steps[0],
        "window_s": config.window_s,
        "generator_nice": GENERATOR_NICE,
        "steps": [asdict(s) for s in steps],
    }


def markdown(summary: dict[str, Any]) -> str:
    """The cluster benchmark as a table a person reads."""
    lines = [
        f"# Cluster benchmark, {summary['date']}",
        "",
        f"{summary['calls']} AI calls held through Kamailio, measured over {summary['window_s']:g} s "
        "(`bench/load.py --cluster`). Cores are CPU seconds per second of each program's processes.",
        "",
        "| nodes | calls ok / failed | calls per core (whole set) | cores: nodes | Kamailio | Redis "
        "| PostgreSQL | Kamailio CPU per call | admission mean / p95 | set-up p50 / p95 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary["steps"]:
        cores = s["cores"]
        lines.append(
            f"| {s['nodes']} | {s['succeeded']} / {s['failed']} | {s['calls_per_core']} "
            f"| {cores.get('nodes')} | {cores.get('kamailio')} | {cores.get('redis')} "
            f"| {cores.get('postgres')} | {s['kamailio_cpu_ms_per_call']} ms "
            f"| {s['admission_ms_mean']} / {s['admission_ms_p95']} ms "
            f"| {_ms(s['setup_ms_p50'])} / {_ms(s['setup_ms_p95'])} ms |"
        )
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
