"""The main job: `voicegrid call` against `voicegrid serve --demo`, over real SIP and RTP.

The caller speaks with espeak-ng; the demo agent hears it through pocketsphinx, answers from its
knowledge base, and speaks through espeak-ng; the caller records and transcribes the answer.
"""

import json
import subprocess
from pathlib import Path

import httpx

from tests.support.ports import free_udp_and_tcp_port
from tests.support.serve import VOICEGRID, env_without_voicegrid, serving


def test_voicegrid_call_gets_the_opening_hours_from_the_demo_agent_over_sip_and_rtp(tmp_path: Path) -> None:
    data = tmp_path / "var"
    sip = free_udp_and_tcp_port()
    with serving(data, "--demo", sip_port=sip) as (url, _log):
        done = subprocess.run(
            [
                *VOICEGRID,
                "call",
                f"sip:+15550100@127.0.0.1:{sip}",
                "--data-dir",
                str(data),
                "--say",
                "are you open at nine pm",
                "--say",
                "thank you, bye",
                "--json",
                "--timeout",
                "90",
            ],
            env=env_without_voicegrid(),
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        key = json.loads((data / "demo.json").read_text())["api_key"]
        record = httpx.get(
            f"{url}/v1/calls/{result['call_id']}", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).json()
    speakers = [t["speaker"] for t in result["turns"]]
    assert speakers == ["agent", "caller", "agent", "caller", "agent"]
    greeting, _, answer, _, goodbye = result["turns"]
    assert greeting["text"].startswith("Hello, thank you for calling Bella Pizza")
    assert answer["text"] == "We are open every day from 11 am to 10 pm."
    # What the caller itself heard and transcribed from the RTP it received:
    assert "open" in answer["heard"]
    assert "every day" in answer["heard"]
    assert answer["audio_ms"] > 1500
    assert 100 < answer["voice_to_voice_ms"] < 3000
    assert goodbye["text"] == "Thank you for calling. Goodbye!"
    # The platform's record: the agent ended the call, and every turn has its timestamps in order.
    assert record["ended_by"] == "agent"
    assert record["state"] == "ended"
    turns = record["conversation"]["turns"]
    assert len(turns) == 2
    for turn in turns:
        stamps = [
            turn[k]
            for k in (
                "speech_end_at",
                "stt_final_at",
                "llm_first_token_at",
                "tts_first_audio_at",
                "first_packet_at",
            )
        ]
        assert stamps == sorted(stamps)
    usage = {(u["stage"], u["provider"]) for u in record["conversation"]["usage"]}
    assert usage == {("stt", "pocketsphinx"), ("llm", "knowledge-base"), ("tts", "espeak-ng")}
