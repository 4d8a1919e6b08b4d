"""Startup and idle: how soon a new node serves, and what it holds while no call is up.

Run: .venv/bin/python bench/idle.py [--runs 3] [--demo] [--out FILE]

Each run starts one `voicegrid serve` (SQLite, free ports) and measures, from outside: the time from
the process's start to its first 200 on /readyz (the database answers, SIP and HTTP listen), then,
after `--settle-s` of idling, the RSS of the serving process and of its whole process tree (the
analysis worker included), read from /proc. The first run starts on an empty data directory (it
creates and migrates the database); the others on the same one, as a node that restarts or joins a
fleet whose database exists. Then the floor: the RSS of a bare interpreter that imports only the
third-party parts the node is built on (DESIGN.md's chosen parts), one after the other, so the figure
says how much of the node's idle memory is its own and how much its parts hold however they are used.
Printed and saved to bench/results/idle-<date>.json and .md, with the stolen time.
"""

import argparse
import base64
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import procfs
from bench.harness.processes import VOICEGRID
from voicegrid.testing.ports import free_port, free_udp_and_tcp_port

RESULTS = Path(__file__).with_name("results")
# The node's third-party parts, in the order its start imports them: (what, module).
PARTS = (
    ("CLI: typer", "typer"),
    ("models and settings: pydantic, pydantic-settings", "pydantic_settings"),
    ("storage: SQLAlchemy 2 (Core, ORM, asyncio)", "sqlalchemy.ext.asyncio"),
    ("storage: aiosqlite and its dialect", "sqlalchemy.dialects.sqlite.aiosqlite"),
    ("media: numpy", "numpy"),
    ("media: soxr", "soxr"),
    ("secrets: cryptography AES-GCM", "cryptography.hazmat.primitives.ciphers.aead"),
    ("metrics: prometheus-client", "prometheus_client"),
    ("HTTP server: uvicorn", "uvicorn"),
    ("event loop: uvloop", "uvloop"),
    ("WebSocket client: picows", "picows"),
    ("WebSocket server: websockets", "websockets"),
    ("API: FastAPI, Starlette", "fastapi"),
)
FLOOR = """
import importlib, json, sys
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
rows = [("bare interpreter", rss())]
for name in sys.argv[1:]:
    importlib.import_module(name)
    rows.append((name, rss()))
print(json.dumps(rows))
"""


def children(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc's children lists."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            text = (procfs.PROC / str(current) / "task" / str(current) / "children").read_text()
        except OSError:
            continue
        kids = [int(p) for p in text.split()]
        found += kids
        todo += kids
    return found


def one_run(workdir: Path, demo: bool, settle_s: float) -> dict[str, float]:
    http, sip = free_port(), free_udp_and_tcp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGRID_")}
    env |= {
        "VOICEGRID_ADMIN_KEY": "vg_idle_" + secrets.token_urlsafe(24),
        "VOICEGRID_SECRET_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "VOICEGRID_LOG_LEVEL": "warning",
    }
    command = [*VOICEGRID, "serve", "--data-dir", str(workdir / "data"), "--http-port", str(http)]
    command += ["--sip-port", str(sip), *(["--demo"] if demo else [])]
    log = (workdir / "serve.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        ready_s = None
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() - started < 60:
                if proc.poll() is not None:
                    raise RuntimeError(f"voicegrid exited: {(workdir / 'serve.log').read_text()[-2000:]}")
                try:
                    if client.get(f"http://127.0.0.1:{http}/readyz").status_code == 200:
                        ready_s = time.monotonic() - started
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        if ready_s is None:
            raise RuntimeError("voicegrid was not ready within 60 s")
        time.sleep(settle_s)
        own = procfs.usage(proc.pid)
        tree = procfs.total([proc.pid, *children(proc.pid)])
        return {
            "ready_s": round(ready_s, 3),
            "rss_mb": round(own.rss_bytes / 2**20, 1),
            "tree_rss_mb": round(tree.rss_bytes / 2**20, 1),
            "cpu_s": round(own.cpu_s, 2),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def floor() -> list[dict[str, object]]:
    """What the parts alone hold: a fresh interpreter's RSS after each import, in the node's order."""
    out = subprocess.run(
        [sys.executable, "-c", FLOOR, *(module for _, module in PARTS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = json.loads(out.stdout)
    labels = ["bare interpreter", *(what for what, _ in PARTS)]
    result, before = [], 0
    for label, (_, rss) in zip(labels, rows, strict=True):
        result.append(
            {"part": label, "adds_mb": round((rss - before) / 2**20, 1), "rss_mb": round(rss / 2**20, 1)}
        )
        before = rss
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=5.0)
    parser.add_argument("--demo", action="store_true", help="start with the demo business (make run)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs = []
    machine_before = procfs.machine()
    wall_before = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vg-idle-") as tmp:
        for _ in range(args.runs):
            runs.append(one_run(Path(tmp), args.demo, args.settle_s))
            print(json.dumps(runs[-1]), flush=True)
        parts = floor()
    machine_after = procfs.machine()
    stolen = (machine_after.stolen_s - machine_before.stolen_s) / (time.monotonic() - wall_before)
    summary = {
        "date": dt.date.today().isoformat(),
        "demo": args.demo,
        "runs": runs,
        "ready_s_first_start": runs[0]["ready_s"],
        "ready_s_best": min(r["ready_s"] for r in runs[1:] or runs),
        "ready_s_worst": max(r["ready_s"] for r in runs[1:] or runs),
        "rss_mb_worst": max(r["rss_mb"] for r in runs),
        "tree_rss_mb_worst": max(r["tree_rss_mb"] for r in runs),
        "floor_rss_mb": parts[-1]["rss_mb"],
        "floor": parts,
        "stolen_cores": round(stolen, 3),
        "cores": os.cpu_count(),
    }
    out = args.out or RESULTS / f"idle-{summary['date']}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    rows = "\n".join(
        f"| {i + 1} | {r['ready_s']} | {r['rss_mb']} | {r['tree_rss_mb']} | {r['cpu_s']} |"
        for i, r in enumerate(runs)
    )
    md = (
        f"# Startup and idle, {summary['date']} ({'demo business' if args.demo else 'empty node'})\n\n"
        "| run | ready s | RSS MB | process tree RSS MB | CPU s to idle |\n|---|---|---|---|---|\n"
        f"{rows}\n\nRun 1 creates the database ({summary['ready_s_first_start']} s); on an existing one, "
        f"ready in {summary['ready_s_best']}-{summary['ready_s_worst']} s. Idle RSS at most "
        f"{summary['rss_mb_worst']} MB (process tree {summary['tree_rss_mb_worst']} MB); "
        f"stolen cores {summary['stolen_cores']} of {summary['cores']}.\n"
    )
    md += (
        "\nThe floor: a bare interpreter importing only the node's third-party parts, in the node's order, "
        f"holds {summary['floor_rss_mb']} MB before any of voicegrid's own code.\n\n"
        "| part | adds MB | RSS MB |\n|---|---|---|\n"
        + "\n".join(f"| {p['part']} | {p['adds_mb']} | {p['rss_mb']} |" for p in parts)
        + "\n"
    )
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
