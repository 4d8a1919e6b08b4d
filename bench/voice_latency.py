"""Voice-to-voice latency through the whole platform, with emulated providers at published latencies.

Run: .venv/bin/python bench/voice_latency.py [--calls 6] [--stt-ms 150] [--llm-ms 400] [--tts-ms 150]

It starts the Deepgram (live STT, Aura-2 TTS) and OpenAI emulators on loopback with first-byte
latencies from PROVIDER_FACTS.md (Deepgram final ~150 ms after end of speech, gpt-4o-mini first token
~400 ms, Aura-2 first byte ~150 ms), runs `voicegrid serve --demo` as a real process, creates an
agent that uses those providers through stored credentials, and places real SIP calls to it with
`voicegrid call`'s scripted caller (three lines each, spoken over RTP).

Per turn it reports, from the platform's record:
  voice_to_voice_ms  caller's last voiced frame (after the jitter buffer) -> first reply frame sent
  endpointing_ms     the configured quiet that ends a turn (VAD)
  provider_ms        STT final wait + LLM time to first sentence + TTS first audio
  platform_ms        the rest: our own work (goal: <= 20 ms at p95)
and, from the caller's side of the RTP, the voice-to-voice it heard. Saves
bench/results/voice_latency-<date>.json.
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from voicegrid.caller import place_call
from voicegrid.testing.emulators import DeepgramEmulator, OpenAiEmulator
from voicegrid.testing.emulators.agent import credential_body, emulated_agent
from voicegrid.testing.ports import free_port, free_udp_and_tcp_port

LINES = ["are you open tonight", "do you deliver to the harbour", "thank you, bye"]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


async def setup_agent(api: httpx.AsyncClient, stt: str, llm: str, tts: str) -> None:
    async def credential(provider: str, base: str) -> str:
        response = await api.post("/v1/credentials", json=credential_body(provider, base))
        response.raise_for_status()
        return str(response.json()["id"])

    agent = emulated_agent(
        "Bench agent",
        stt=await credential("deepgram", stt),
        llm=await credential("openai", llm),
        tts=await credential("deepgram", tts),
        tools=[{"name": "end_call", "kind": "end_call"}],
        turn={"min_silence_ms": 400},
    )
    response = await api.post("/v1/agents", json=agent)
    response.raise_for_status()
    number = await api.post("/v1/numbers", json={"number": "+15550177", "agent_id": response.json()["id"]})
    number.raise_for_status()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--stt-ms", type=float, default=150)
    parser.add_argument("--llm-ms", type=float, default=400)
    parser.add_argument("--tts-ms", type=float, default=150)
    args = parser.parse_args()
    script = [line for _ in range(args.calls) for line in LINES]
    replies = [
        r
        for _ in range(args.calls)
        for r in (
            "Yes, we are open until ten tonight.",
            "We deliver to the harbour district.",
            {"text": "Goodbye!", "tools": [["end_call", "{}"]]},
        )
    ]
    stt = DeepgramEmulator(first_byte_ms=args.stt_ms, script=script)
    tts = DeepgramEmulator(first_byte_ms=args.tts_ms)
    llm = OpenAiEmulator(first_byte_ms=args.llm_ms, token_ms=10, script=replies)
    for emulator in (stt, tts, llm):
        await emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="voice-latency-"))
    http, sip = free_port(), free_udp_and_tcp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGRID_")}
    env["VOICEGRID_ALLOW_PRIVATE_DESTINATIONS"] = "true"  # the emulators are on loopback
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [sys.executable, "-m", "voicegrid", "serve", "--demo", "--data-dir", str(workdir / "var"),
         "--http-port", str(http), "--sip-port", str(sip)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    heard: list[float] = []
    try:
        url = f"http://127.0.0.1:{http}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as probe:
            for _ in range(300):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        key = json.loads((workdir / "var" / "demo.json").read_text())["api_key"]
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as api:
            await setup_agent(api, stt.http_url, llm.http_url + "/v1", tts.http_url)
            for n in range(args.calls):
                result = await place_call(
                    f"sip:+15550177@127.0.0.1:{sip}", LINES, api_url=url, api_key=key, timeout_s=60,
                    model_dir=workdir / "models",
                )  # fmt: skip
                turns = result["platform_turns"]
                rows.extend(turns)
                caller = [
                    t
                    for t in result["turns"]
                    if t["speaker"] == "agent" and t["voice_to_voice_ms"] is not None
                ]
                for turn, seen in zip(turns, caller, strict=False):
                    heard.append(seen["voice_to_voice_ms"] - turn["endpointing_ms"] - turn["provider_ms"])
                print(f"call {n + 1}: {len(turns)} turns, completed={result['completed']}", file=sys.stderr)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
        for emulator in (stt, tts, llm):
            await emulator.stop()
    rows = [r for r in rows if r.get("platform_ms") is not None]
    summary: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "emulated_ms": {
            "stt_final": args.stt_ms,
            "llm_first_token": args.llm_ms,
            "tts_first_byte": args.tts_ms,
        },
        "calls": args.calls,
        "turns": len(rows),
    }
    for name in ("voice_to_voice_ms", "endpointing_ms", "provider_ms", "platform_ms"):
        values = [float(r[name]) for r in rows]
        summary[name] = {
            "p50": pct(values, 50),
            "p95": pct(values, 95),
            "max": round(max(values), 1) if values else None,
        }
    summary["platform_ms_over_rtp"] = {"p50": pct(heard, 50), "p95": pct(heard, 95)}
    summary["note"] = (
        "platform_ms: from the STT's final to the LLM request, plus from the TTS's first audio to the "
        "first RTP packet (which waits for the next 20 ms media tick). platform_ms_over_rtp: what the "
        "caller heard, minus endpointing and provider time; it adds the inbound jitter buffer, codecs "
        "and sockets."
    )
    print(json.dumps(summary, indent=2))
    out = Path(__file__).parent / "results" / f"voice_latency-{datetime.now(UTC).date()}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"saved {out}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
