"""The media path's own cost per packet, in one process, with no socket: a call's RTP session receives
one G.711 packet and sends one on each 20 ms tick, as it does on a live call. What is measured is
voicegrid's Python work per packet (parse, jitter buffer, decode, the agent's frame, queue, encode,
header), without the kernel's share (a null sender takes the datagrams).

Run: .venv/bin/python bench/rtp_path.py [--calls 300] [--seconds 5] [--agent echo|voice-listen|voice]
`echo` sends back what it hears (every packet both ways carries audio); `voice-listen` is the voice
agent's listening half (VAD and STT chunks, as while a caller speaks) with comfort noise sent back;
`voice` is the voice agent itself (`VoiceSession`, simulated providers) hearing a caller speak: its
tasks (the STT stream, replies) run between ticks, and their time is not counted.
Prints microseconds per packet in and out (the best of `--repeats` runs: the one least disturbed by
the rest of the machine), and saves JSON to bench/results/rtp_path-<agent>-<date>.json.
"""

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from voicegrid import native
from voicegrid.media.codecs import make_codec
from voicegrid.media.g711 import ulaw_encode
from voicegrid.media.rtp import RtpPacket
from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.media.vad import VoiceDetector
from voicegrid.pipeline import VoiceConfig, VoiceSession
from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.registry import build_llm, build_stt, build_tts
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.rtp_session import RtpSession

REMOTE = ("127.0.0.1", 40000)


class NullSender:
    def __init__(self) -> None:
        self.sent = 0

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent += 1

    def close(self) -> None:
        pass


class Listening:
    """The voice agent's per-frame work while a caller speaks: VAD, audio held for the STT in chunks."""

    def __init__(self) -> None:
        self.vad = VoiceDetector(8000, aggressiveness=2, start_ms=60.0, stop_ms=200.0)
        self.held = bytearray()
        self.chunks = 0

    def on_start(self, session: CallSession) -> None:
        pass

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        self.held.extend(frame.pcm.tobytes())
        if len(self.held) >= 1600:  # 100 ms chunks, as the pipeline sends them
            self.held.clear()
            self.chunks += 1
        self.vad.feed(frame.pcm)

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        pass

    def on_end(self, session: CallSession) -> None:
        pass


def _speech(seconds: float) -> list[bytes]:
    """G.711 payloads of a voice-like signal (a harmonic tone with a syllable envelope)."""
    t = np.arange(int(seconds * 8000)) / 8000
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), start=1))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    pcm = (voice * envelope * 6000).astype(np.int16)
    return [ulaw_encode(pcm[i : i + 160]) for i in range(0, len(pcm) - 159, 160)]


def _voice_agent() -> VoiceSession:
    """The voice agent on simulated providers (the STT hears a line, the LLM answers it)."""

    def configs(options: dict[str, object]) -> list[ProviderConfig]:
        return [ProviderConfig("simulated", options=options)]

    def ignore(stage: str, error: object) -> None:
        pass

    return VoiceSession(
        VoiceConfig(),
        stt=build_stt(configs({"transcripts": ["are you open tonight"]}), ignore),
        llm=build_llm(configs({"replies": ["Yes, until ten."]}), ignore),
        tts=build_tts(configs({}), ignore),
    )


def _talker(agent: str) -> Any:
    return {"echo": EchoAgent, "voice-listen": Listening, "voice": _voice_agent}[agent]()


async def measure(calls: int, seconds: float, agent: str) -> dict[str, Any]:
    clock = MediaClock()
    sessions = []
    for _ in range(calls):
        talker = _talker(agent)
        session = RtpSession(
            codec=make_codec("PCMU"), remote=REMOTE, agent=talker, clock=clock, no_rtp_timeout_s=1e9
        )
        session.attach(NullSender())
        sessions.append(session)
    payloads = _speech(2.0)
    ticks = int(seconds / 0.020)
    packets = [[bytes(RtpPacket(0, seq, seq * 160, 1000 + c, payloads[seq % len(payloads)])) for seq in range(ticks)]
               for c in range(min(calls, 4))]  # fmt: skip
    wall = cpu = 0.0
    for tick in range(ticks):
        now = tick * 0.020
        started, cpu_started = time.perf_counter(), time.process_time()
        for c, session in enumerate(sessions):
            session.receive(packets[c % len(packets)][tick], REMOTE, now)
            session.on_tick(now, now)
        wall += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        await asyncio.sleep(0)  # the agents' own tasks, as the event loop runs them between ticks
    handled = calls * ticks
    return {
        "calls": calls,
        "agent": agent,
        "ticks": ticks,
        "us_per_packet_in_and_out": round(cpu / handled * 1e6, 2),
        "cpu_share_per_call_percent": round(cpu / handled * 50 * 100, 3),  # 50 packets a second
        "calls_per_core_media_only": round(1 / (cpu / handled * 50)),
        "wall_s": round(wall, 2),
        "compiled": native.compiled(),  # the media modules this run loaded built (tools/build_native.py)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--agent", choices=("echo", "voice-listen", "voice"), default="echo")
    parser.add_argument("--repeats", type=int, default=3, help="the best of this many runs is kept")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs = [asyncio.run(measure(args.calls, args.seconds, args.agent)) for _ in range(args.repeats)]
    results = [min(runs, key=lambda r: float(r["us_per_packet_in_and_out"]))]  # the least disturbed run
    for r in results:
        print(
            f"{r['agent']:>12}: {r['us_per_packet_in_and_out']} us per packet in and out, "
            f"{r['cpu_share_per_call_percent']} % of a core per call, "
            f"{r['calls_per_core_media_only']} calls per core (media path alone); "
            f"{len(r['compiled'])} of {len(native.MODULES)} media modules compiled"
        )
    date = datetime.now(UTC).date().isoformat()
    out = args.out or Path(__file__).parent / "results" / f"rtp_path-{args.agent}-{date}.json"
    out.write_text(json.dumps({"date": date, "results": results}, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
