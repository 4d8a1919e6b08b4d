"""Density: live AI calls per core, memory per call and latency under load (issue 8).

Run: .venv/bin/python bench/load.py [--steps 20,60,...] [--window-s 30] [--compare 20] [--smoke]
     .venv/bin/python bench/load.py --steps 100 --compare 0 --analysis --analysis-backlog 3000: the same
     with post-call analyses running through the window (issue 18)
     .venv/bin/python bench/load.py --cluster 1,2,3 --steps 60 [--window-s 20]: the same calls through
     Kamailio to 1, 2 and 3 nodes (issue 16), see bench/harness/cluster_bench.py
It starts the Deepgram, OpenAI and Aura-2 emulators as processes at published latencies, one
voicegrid worker per core sharing one database, and SIPp callers; it ramps N, measures voicegrid's
CPU and RSS from /proc, its RTP lateness from a tcpdump capture and voice-to-voice from the call
records, then runs the same load with one voicegrid process per call. Saves
bench/results/load-<date>.json, .md and .png. The harness (bench/harness) ships with the
repository, not inside the voicegrid wheel.
"""

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for bench.harness

from bench.harness import cluster_bench, harness, report

app = typer.Typer(add_completion=False)


@app.command()
def load(
    steps: Annotated[
        str, typer.Option("--steps", help="N values, ramping up")
    ] = "20,100,200,250,300,350,400",
    workers: Annotated[
        int | None, typer.Option("--workers", help="voicegrid processes (default: one per core)")
    ] = None,
    window_s: Annotated[float, typer.Option("--window-s", help="measuring window per step")] = 30.0,
    compare: Annotated[
        int, typer.Option("--compare", help="calls of the process-per-call row (0: none)")
    ] = 20,
    smoke: Annotated[bool, typer.Option("--smoke", help="N = 20 for 60 s, no comparison")] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="node counts, e.g. 1,2,3: the first step's calls through Kamailio to that many nodes "
            "(with Redis and PostgreSQL), instead of the density ramp",
        ),
    ] = None,
    profile: Annotated[bool, typer.Option("--profile", help="py-spy on one worker in each window")] = False,
    analysis: Annotated[
        bool,
        typer.Option("--analysis", help="the agent's calls are analysed after they end (embedded engine)"),
    ] = False,
    analysis_backlog: Annotated[
        int,
        typer.Option(
            "--analysis-backlog",
            help="with --analysis: calls queued for analysis before each step, so analyses run through "
            "its whole window alongside the live turns",
        ),
    ] = 0,
    suppress_silence: Annotated[
        bool,
        typer.Option(
            "--suppress-silence",
            help="the workers send no RTP while the agent is quiet (VOICEGRID_RTP_SUPPRESS_SILENCE)",
        ),
    ] = False,
    stt_speech_only: Annotated[
        bool,
        typer.Option(
            "--stt-speech-only",
            help="the load agent sends its STT the caller's speech only (turn setting stt_speech_only)",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="the JSON summary (default bench/results)")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="logs, captures (default: a temp dir)")
    ] = None,
) -> None:
    """Live AI calls per core, memory per call and latency under a SIPp load, N ramping up."""

    config = harness.LoadConfig(
        steps=[20] if smoke else [int(n) for n in steps.split(",")],
        workdir=workdir or Path(tempfile.mkdtemp(prefix="voicegrid-load-")),
        workers=workers or os.cpu_count() or 1,
        window_s=60.0 - 1.0 - 5.0 - 2.0 if smoke else window_s,  # smoke: each call held 60 s in all
        compare_n=0 if smoke else compare,
        profile=profile,
        analysis=analysis,
        analysis_backlog=analysis_backlog if analysis else 0,
        suppress_silence=suppress_silence,
        stt_speech_only=stt_speech_only,
    )
    columns = [TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
    if cluster:
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("starting", total=1.0)
            found = cluster_bench.run(
                config,
                [int(n) for n in cluster.split(",")],
                lambda what, done: bar.update(task, description=what, completed=done),
            )
        target = out or Path("bench/results") / f"cluster-{datetime.now(UTC).date()}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(found, indent=2) + "\n")
        target.with_suffix(".md").write_text(cluster_bench.markdown(found))
        typer.echo(cluster_bench.markdown(found))
        typer.echo(f"wrote {target} and {target.with_suffix('.md')}", err=True)
        return
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("starting", total=1.0)
        summary = harness.run(config, lambda what, done: bar.update(task, description=what, completed=done))
    target = out or Path("bench/results") / f"load-{datetime.now(UTC).date()}.json"
    for path in report.save(summary, target, with_extras=not smoke):
        typer.echo(f"wrote {path}", err=True)
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "steps"}, indent=2))
    typer.echo(f"work files (logs, captures): {config.workdir}", err=True)


if __name__ == "__main__":
    app()
