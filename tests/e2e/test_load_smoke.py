"""`bench/load.py --smoke`: 20 AI calls for 60 s through SIPp, two workers and the emulators,
measured from outside; the JSON has every figure the full benchmark reports, and no call failed."""

import json
import subprocess
import sys
from pathlib import Path

from tests.support.serve import env_without_voicegrid

KEYS = {
    "calls_per_core", "rss_mb_per_call", "platform_ms_p95", "voice_to_voice_ms_p50", "voice_to_voice_ms_p95",
    "rtp_lateness_ms_p99", "failed_calls", "max_n", "stopped_because", "steps",
}  # fmt: skip


def test_the_smoke_load_runs_20_calls_for_a_minute_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "bench/load.py", "--smoke", "--out", str(out), "--workdir", str(tmp_path / "work")],
        env=env_without_voicegrid(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert set(summary) >= KEYS
    assert summary["failed_calls"] == 0
    assert summary["max_n"] == 20
    # Whether N = 20 met the latency goals depends on the machine at that minute, and a miss is tried
    # once more: the benchmark reports it, and this test checks that every try was run and measured.
    steps = summary["steps"]
    assert [step["attempt"] for step in steps] in ([1], [1, 2])
    assert steps[0]["passed"] or steps[0]["why"]  # a miss says which goal it missed
    for step in steps:
        assert step["n"] == 20
        assert step["succeeded"] == 20
        assert step["records"] == 20  # every call left its record
        assert step["turns"] >= 20  # the callers spoke and the agent answered, turn after turn
        assert step["rtp_packets"] > 20 * 50 * 30  # 50 packets a second per call, through the window
        assert step["cpu_s_per_call_s"] > 0
        assert step["cores"]["voicegrid"] > 0
        assert step["rtp_lateness_ms_p99"] is not None
        assert step["platform_ms_p95"] is not None
    assert summary["calls_per_core"] == (steps[-1]["calls_per_core"] if steps[-1]["passed"] else None)
