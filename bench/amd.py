"""Answering-machine detection: accuracy per class and time to decide, on a labelled set of answers
generated here (voicegrid.testing.amd_corpus: espeak-ng voices and speeds, short and long hellos,
voicemail greetings with and without beeps, 8 kHz mu-law with noise and lost packets).

Run: .venv/bin/python bench/amd.py [--seed 7] [--snr 15,30] [--loss 0.02]
Goals (issue 17): at least 90% right in each class; machines decided within 3.5 s of the answer,
people within 1.5 s (of the answer's end of speech: the agent answers their hello). With
`wait for the beep`, the machine is ready within 300 ms of its beep's end, or after its greeting
when it has none. Saves bench/results/amd-<date>.json and .md. The STT's words are not used here:
the figures are the speech pattern and the beep alone.
"""

import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicegrid.media.amd import AnsweringMachineDetector, Decision, Ready
from voicegrid.testing.amd_corpus import Answer, corpus

app = typer.Typer(add_completion=False)


def judge(answer: Answer) -> dict[str, Any]:
    detector = AnsweringMachineDetector(wait_for_beep=True)
    decision: Decision | None = None
    ready: Ready | None = None
    for frame in answer.frames():
        out = detector.feed(frame)
        if isinstance(out, Decision):
            decision = out
        elif isinstance(out, Ready):
            ready = out
            break
    verdict = decision.verdict.value if decision else "none"
    row: dict[str, Any] = {
        "name": answer.name, "label": answer.label, "verdict": verdict,
        "reason": decision.reason if decision else None, "after_ms": decision.after_ms if decision else None,
        "speech_end_ms": answer.speech_end_ms, "beep_end_ms": answer.beep_end_ms,
        "ready": ready.reason if ready else None, "ready_ms": ready.after_ms if ready else None,
    }  # fmt: skip
    return row


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ("human", "machine"):
        mine = [r for r in rows if r["label"] == label]
        right = [r for r in mine if r["verdict"] == label]
        if label == "human":  # after their hello ended: when the agent may answer
            times = [r["after_ms"] - r["speech_end_ms"] for r in right]
        else:
            times = [r["after_ms"] for r in right]
        out[label] = {
            "answers": len(mine), "right": len(right),
            "accuracy": round(len(right) / len(mine), 4) if mine else None,
            "verdicts": dict(Counter(r["verdict"] for r in mine)),
            "decide_ms_p50": _pct(times, 50), "decide_ms_p95": _pct(times, 95),
            "decide_ms_max": round(max(times), 1) if times else None,
            "from_answer_ms_p95": _pct([r["after_ms"] for r in right], 95),
        }  # fmt: skip
    machines = [r for r in rows if r["label"] == "machine" and r["verdict"] == "machine"]
    beeped = [r for r in machines if r["beep_end_ms"]]
    on_beep = [r for r in beeped if r["ready"] == "beep" and abs(r["ready_ms"] - r["beep_end_ms"]) <= 300]
    silent = [r for r in machines if not r["beep_end_ms"]]
    out["voicemail_drop"] = {
        "beeped": len(beeped), "ready_at_the_beeps_end": len(on_beep),
        "ready_after_beep_ms_p95": _pct([r["ready_ms"] - r["beep_end_ms"] for r in on_beep], 95),
        "without_beep": len(silent), "ready_after_the_greeting": sum(r["ready"] == "silence" for r in silent),
    }  # fmt: skip
    return out


def markdown(summary: dict[str, Any]) -> str:
    h, m, v = summary["human"], summary["machine"], summary["voicemail_drop"]
    return "\n".join(
        [
            f"# Answering-machine detection, {summary['date']}",
            "",
            f"`bench/amd.py --seed {summary['seed']} --snr {summary['snr']} --loss {summary['loss']}`: "
            f"{h['answers'] + m['answers']} answers, decided in {summary['seconds']} s.",
            "",
            "| class | answers | right | accuracy | decided p50 / p95 / max |",
            "|---|---|---|---|---|",
            f"| human (after their hello) | {h['answers']} | {h['right']} | {h['accuracy']:.1%} "
            f"| {h['decide_ms_p50']} / {h['decide_ms_p95']} / {h['decide_ms_max']} ms |",
            f"| machine (after the answer) | {m['answers']} | {m['right']} | {m['accuracy']:.1%} "
            f"| {m['decide_ms_p50']} / {m['decide_ms_p95']} / {m['decide_ms_max']} ms |",
            "",
            f"People were decided {h['from_answer_ms_p95']} ms after the answer at p95 (their hello "
            "included); machines from their first words.",
            "",
            f"Voicemail drop: {v['ready_at_the_beeps_end']} of {v['beeped']} beeps found (ready within 300 ms "
            f"of the beep's end, p95 {v['ready_after_beep_ms_p95']} ms); {v['ready_after_the_greeting']} of "
            f"{v['without_beep']} greetings without a beep ready after the greeting.",
            "",
        ]
    )


@app.command()
def run(
    seed: Annotated[int, typer.Option(help="the noise and packet loss")] = 7,
    snr: Annotated[str, typer.Option(help="signal to noise, dB: low,high")] = "15,30",
    loss: Annotated[float, typer.Option(help="share of 20 ms packets lost")] = 0.02,
    out: Annotated[Path | None, typer.Option(help="the JSON (default bench/results)")] = None,
) -> None:
    low, high = (float(x) for x in snr.split(","))
    started = time.monotonic()
    rows = [judge(answer) for answer in corpus(seed, (low, high), loss)]
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "seed": seed, "snr": snr, "loss": loss,
        "seconds": round(time.monotonic() - started, 1), **summarize(rows),
        "wrong": [r for r in rows if r["verdict"] != r["label"]],
    }  # fmt: skip
    target = out or Path("bench/results") / f"amd-{datetime.now(UTC).date()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, indent=2) + "\n")
    target.with_suffix(".md").write_text(markdown(summary))
    typer.echo(markdown(summary))
    for wrong in summary["wrong"]:
        typer.echo(f"  wrong: {wrong['name']} -> {wrong['verdict']} ({wrong['reason']})")
    typer.echo(f"wrote {target} and {target.with_suffix('.md')}", err=True)


if __name__ == "__main__":
    app()
