"""The density benchmark's outputs: the JSON summary, a Markdown table and a PNG chart against N."""

import json
from pathlib import Path
from typing import Any

COLUMNS = [
    ("mode", "mode"),
    ("n", "N"),
    ("succeeded", "ok"),
    ("failed", "failed"),
    ("calls_per_core", "calls/core"),
    ("rss_mb_per_call", "MB/call"),
    ("rtp_lateness_ms_p99", "RTP late p99 ms"),
    ("platform_ms_p95", "platform p95 ms"),
    ("voice_to_voice_ms_p50", "v2v p50 ms"),
    ("voice_to_voice_ms_p95", "v2v p95 ms"),
    ("turns", "turns"),
    ("stt_audio_share", "STT audio / call time"),
    ("analyses_in_window", "analyses in window"),
]


SKEW_NOTE_MS_PER_S = 0.5  # a skew this big is named under the table


def goal_text(goal: dict[str, float]) -> str:
    return (
        f">= {goal['calls_per_core']:g} calls per core, RTP lateness p99 <= {goal['rtp_lateness_ms_p99']:g} ms, "
        f"platform p95 <= {goal['platform_ms_p95']:g} ms, <= {goal['rss_mb_per_call']:g} MB per call, no failed call"
    )


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "| "
        + " | ".join(title for _, title in COLUMNS)
        + " | cores: voicegrid / SIPp / emulators / machine (stolen) |",
        "|" + "---|" * (len(COLUMNS) + 1),
    ]
    for step in summary["steps"]:
        cells = ["-" if step.get(key) is None else str(step[key]) for key, _ in COLUMNS]
        if step.get("attempt", 1) > 1:
            cells[0] += f" (try {step['attempt']})"
        cores = step["cores"]
        load = " / ".join(f"{cores.get(k, 0):.2f}" for k in ("voicegrid", "sipp", "emulators", "machine"))
        lines.append("| " + " | ".join(cells) + f" | {load} ({cores.get('stolen', 0):.2f}) |")
    lines += [
        "",
        f"calls_per_core = **{summary['calls_per_core']}** at N = {summary['best_n']} "
        f"({summary['workers']} workers on {summary['machine_cores']} cores); "
        f"RSS {summary['rss_mb_per_call']} MB per call; platform p95 {summary['platform_ms_p95']} ms; "
        f"RTP lateness p99 {summary['rtp_lateness_ms_p99']} ms.",
        f"Stopped at N = {summary['max_n']}: {summary['stopped_because']}.",
    ]
    skewed = [
        s for s in summary["steps"] if abs(s.get("rtp_clock_skew_ms_per_s") or 0.0) >= SKEW_NOTE_MS_PER_S
    ]
    for step in skewed:
        lines.append(
            f"At N = {step['n']} ({step['mode']}, try {step.get('attempt', 1)}) the capture's clock ran "
            f"{step['rtp_clock_skew_ms_per_s']} ms per second off the RTP timestamps' in every stream "
            "(the median): that step's RTP lateness includes the skew, growing through its window."
        )
    if summary.get("settings"):
        lines.append(
            "Worker settings: " + ", ".join(f"`{k}={v}`" for k, v in summary["settings"].items()) + "."
        )
    if summary.get("agent_turn"):
        lines.append(
            "Load agent's turn settings: "
            + ", ".join(f"`{k}={v}`" for k, v in summary["agent_turn"].items())
            + "."
        )
    if "goal" in summary:
        met = summary["goal_met_at_n"]
        lines.append(
            f"Issue 21's goal ({goal_text(summary['goal'])}): "
            + (
                f"met at N = {met}."
                if met
                else f"not met; at the best step: {summary['goal_missed_at_best']}."
            )
        )
    profiled = [s for s in summary["steps"] if s.get("profile", {}).get("samples")]
    for step in profiled[-2:]:
        prof = step["profile"]
        lines += [
            "",
            f"Where worker 0's time went at N = {step['n']} (py-spy, {prof['samples']} samples):",
            "",
        ]
        lines += [f"- {part}: {share}%" for part, share in prof["parts_percent"].items()]
        lines += [
            "",
            "Busiest functions (own time): " + "; ".join(f"{k} {v}%" for k, v in prof["own_percent"].items()),
        ]
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, Any], path: Path) -> None:
    """Latency (platform p95, RTP lateness p99) and voicegrid's CPU per call against N."""
    import matplotlib  # a dev dependency: only the benchmark draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s in summary["steps"] if s["mode"] == "one process per core"]
    n = [s["n"] for s in steps]
    figure, (latency, cpu) = plt.subplots(1, 2, figsize=(11, 4))
    latency.plot(n, [s["platform_ms_p95"] for s in steps], "o-", label="platform share p95")
    latency.plot(n, [s["rtp_lateness_ms_p99"] for s in steps], "s-", label="RTP lateness p99")
    latency.plot(n, [s["voice_to_voice_ms_p50"] for s in steps], "^-", label="voice-to-voice p50")
    latency.set_yscale("log")
    latency.set_xlabel("concurrent calls (N)")
    latency.set_ylabel("ms")
    latency.legend()
    latency.grid(alpha=0.3)
    cpu.plot(
        n,
        [100 * (s["cpu_s_per_call_s"] or 0) for s in steps],
        "o-",
        label="voicegrid CPU % of a core per call",
    )
    cpu.plot(n, [s["cores"].get("voicegrid", 0) for s in steps], "s-", label="voicegrid cores used")
    cpu.plot(n, [s["cores"].get("machine", 0) for s in steps], "^--", label="machine cores busy")
    cpu.set_xlabel("concurrent calls (N)")
    cpu.legend()
    cpu.grid(alpha=0.3)
    figure.suptitle(f"voicegrid density, {summary['date'][:10]}: {summary['calls_per_core']} calls per core")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def save(summary: dict[str, Any], json_path: Path, with_extras: bool = True) -> list[Path]:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    written = [json_path]
    if with_extras:
        md, png = json_path.with_suffix(".md"), json_path.with_suffix(".png")
        md.write_text(markdown(summary))
        chart(summary, png)
        written += [md, png]
    return written
