"""Barge-in over a real SIP call: SIPp places the call to the demo agent, the test's RTP socket talks
over the agent's greeting, and the agent's outbound RTP must fall silent within 100 ms of the
platform's barge-in decision, measured in the RTP timestamps of the stream the test received."""

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import soxr

from tests.support.serve import serving
from tests.support.sipp import SCENARIOS, run_sipp
from voicegrid.media.g711 import ulaw_decode, ulaw_encode
from voicegrid.media.rtp import RtpPacket
from voicegrid.testing.ports import free_udp_and_tcp_port

RATE = 8000
VOICED_RMS = 300.0


def spoken(text: str) -> bytes:
    raw = subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True
    ).stdout
    pcm = np.frombuffer(raw[44:], dtype=np.int16)
    return ulaw_encode(np.asarray(soxr.resample(pcm, 22050, RATE)).astype(np.int16))


@dataclass
class Talker(asyncio.DatagramProtocol):
    """Receives the agent's RTP and answers with 20 ms PCMU packets: silence, then speech on cue."""

    speech: bytes
    received: list[tuple[float, int, bool]] = field(default_factory=list)  # (arrival, ts, voiced)
    peer: tuple[str, int] | None = None
    transport: asyncio.DatagramTransport | None = None
    talk_from: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = RtpPacket.parse(data)
        if packet.payload_type != 0:
            return
        self.peer = addr
        pcm = ulaw_decode(packet.payload).astype(np.float32)
        self.received.append(
            (time.monotonic(), packet.timestamp, float(np.sqrt(np.mean(pcm**2))) > VOICED_RMS)
        )

    def agent_voiced_s(self) -> float:
        return sum(0.02 for _, _, voiced in self.received if voiced)

    async def run(self, seconds: float) -> None:
        seq, ts, start = 1, 0, time.monotonic()
        for i in range(int(seconds * 50)):
            await asyncio.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
            if self.talk_from is None and self.agent_voiced_s() >= 0.8:
                self.talk_from = time.monotonic()  # the greeting is well under way: talk over it
            payload = b"\xff" * 160
            if self.talk_from is not None:
                offset = int((time.monotonic() - self.talk_from) * RATE)
                chunk = self.speech[offset : offset + 160]
                payload = chunk + b"\xff" * (160 - len(chunk))
            if self.peer is not None and self.transport is not None:
                self.transport.sendto(bytes(RtpPacket(0, seq, ts, 0x1234, payload, False)), self.peer)
            seq, ts = seq + 1, ts + 160


async def test_barge_in_over_sip_silences_the_agent_within_100_ms_of_the_decision(tmp_path: Path) -> None:
    data = tmp_path / "var"
    sip = free_udp_and_tcp_port()
    loop = asyncio.get_running_loop()
    talker = Talker(spoken("excuse me, wait, I have a question about delivery"))
    transport, _ = await loop.create_datagram_endpoint(lambda: talker, local_addr=("127.0.0.1", 0))
    mport = transport.get_extra_info("sockname")[1]
    scenario = tmp_path / "talk_over.xml"  # the test's own socket, written into the SDP
    scenario.write_text((SCENARIOS / "uac_talk_over.xml").read_text().replace("[$mport]", str(mport)))
    try:
        with serving(data, "--demo", sip_port=sip) as (url, _log):
            sipp = asyncio.create_task(
                run_sipp(
                    [
                        f"127.0.0.1:{sip}",
                        "-i", "127.0.0.1",
                        "-p", str(free_udp_and_tcp_port()),
                        "-sf", str(scenario),
                        "-s", "+15550100",
                        "-m", "1",
                    ],
                    tmp_path / "sipp",
                )
            )  # fmt: skip
            await talker.run(7.5)
            run = await sipp
            assert run.returncode == 0, run.log
            key = json.loads((data / "demo.json").read_text())["api_key"]
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:
                calls = (await api.get("/v1/calls")).json()["items"]
    finally:
        transport.close()
    conversation = calls[0]["conversation"]
    barge = conversation["barge_ins"]
    assert len(barge) == 1, conversation
    decision_ts = barge[0]["outbound_rtp_timestamp"]
    assert talker.talk_from is not None
    voiced_before = [ts for _, ts, v in talker.received if v and (ts - decision_ts) % 2**32 > 2**31]
    assert len(voiced_before) > 40  # the agent was talking when the caller cut in
    # Voiced packets after the decision, in the half second before any new reply could start:
    window = [
        ((ts - decision_ts) % 2**32)
        for _, ts, v in talker.received
        if v and (ts - decision_ts) % 2**32 < 4000
    ]
    stopped_within_ms = (max(window) + 160) / RATE * 1000 if window else 0.0
    print(f"agent audio stopped {stopped_within_ms:.0f} ms after the barge-in decision")
    assert stopped_within_ms <= 100
    greeting = conversation["transcript"][0]
    assert greeting["speaker"] == "agent"
    assert greeting["interrupted"] is True
    assert 0 < len(greeting["text"]) < len("Hello, thank you for calling Bella Pizza. How can I help you?")
