"""Where a worker's time goes: py-spy's collapsed stacks of one worker during a step's window, summed
into the functions that spend it and into the parts of a call (media clock, RTP in, STT, LLM, TTS)."""

import shutil
import sys
from collections import Counter
from pathlib import Path

from bench.harness.processes import LoadError, Proc, start

# A frame's function name (as py-spy writes it, "function (file:line)") -> the part of a call it is.
PARTS = {
    "media clock tick: jitter buffer out, decode, VAD, RTP out": "MediaClock._run",
    "RTP in: parse, jitter buffer, decode": "RtpSession.datagram_received",
    "caller audio: VAD, chunks to the STT": "VoiceSession.on_audio",
    "STT stream: sending": "VoiceSession._pump",
    "STT stream: transcripts": "VoiceSession._read",
    "LLM request and stream": "Llm.stream",
    "TTS request and audio": "Tts.synthesize",
    "media stream in: JSON, base64, decode": "CarrierStream.receive",
    "media stream out: encode, base64, JSON": "CarrierStream.on_tick",
    "WebSocket server (uvicorn, websockets)": "websockets/",
    "SIP": "UserAgent.",
    "HTTP API": "uvicorn",
}
LOOP = "Runner.run"  # what py-spy shows of uvloop's own C work (sockets, timers, callbacks)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise LoadError("py-spy is not installed: run `make setup` (a dev dependency)")
    return found


def record(pid: int, seconds: float, out: Path) -> Proc:
    """py-spy sampling `pid` for `seconds` without pausing it (--nonblocking), 100 times a second."""
    command = [py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
               "--nonblocking", "--format", "raw", "--output", str(out)]  # fmt: skip
    return start("py-spy", command, out.parent)


def _name(frame: str) -> str:
    return frame.split(" (", 1)[0]


def summarize(raw: str, top: int = 12) -> dict[str, object]:
    """Own time of the busiest functions, and inclusive time of each part of a call, as % of samples."""
    own: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = _name(frames[-1]) or "(native)"
        own["event loop itself (uvloop: sockets, timers, wake-ups)" if leaf == LOOP else leaf] += n
        joined = ";".join(frames)
        for part, marker in PARTS.items():
            if marker in joined:
                parts[part] += n
    if not total:
        return {"samples": 0}
    share = {k: round(100 * v / total, 1) for k, v in own.most_common(top)}
    return {
        "samples": total,
        "own_percent": share,
        "parts_percent": {k: round(100 * parts[k] / total, 1) for k in PARTS if parts[k]},
    }
