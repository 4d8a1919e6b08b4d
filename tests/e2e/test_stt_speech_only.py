"""An agent set to send its STT speech only, on a real call: a node, a SIP caller that speaks its
lines, the Deepgram client against the emulator. Every line is transcribed and answered, and the STT
heard (and would bill) a fraction of the call."""

import json
from datetime import datetime
from pathlib import Path

import httpx

from tests.support.serve import demo_node_reaching
from voicegrid.caller import place_call
from voicegrid.testing.emulators import DeepgramEmulator, OpenAiEmulator

LINES = ["are you open tonight", "do you deliver to the harbour"]
ANSWERS = ["Yes, we are open until ten tonight.", "We deliver to the harbour district."]


async def test_an_agent_that_sends_speech_only_answers_every_line_and_its_stt_hears_a_fraction_of_the_call(
    tmp_path: Path,
) -> None:
    deepgram = DeepgramEmulator(api_key="right-key", first_byte_ms=50, script=LINES)
    openai = OpenAiEmulator(api_key="right-key", first_byte_ms=50, script=ANSWERS)
    async with (
        demo_node_reaching(tmp_path, deepgram, openai) as (url, sip, key),
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api,
    ):

        async def credential(provider: str, base: str) -> str:
            body = {"name": provider, "provider": provider, "secret": "right-key", "base_url": base}
            response = await api.post("/v1/credentials", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        agent = {
            "name": "Speech only",
            "greeting": "Hello, Bella Pizza.",
            "stt": {
                "provider": "deepgram",
                "credential_id": await credential("deepgram", deepgram.http_url),
            },
            "llm": {
                "provider": "openai",
                "credential_id": await credential("openai", openai.http_url + "/v1"),
            },
            "tts": {"provider": "espeak-ng"},
            "turn": {"stt_speech_only": True, "min_silence_ms": 400},
        }
        created = await api.post("/v1/agents", json=agent)
        assert created.status_code == 201, created.text
        number = {"number": "+15550156", "agent_id": created.json()["id"]}
        assert (await api.post("/v1/numbers", json=number)).status_code == 201
        result = await place_call(
            f"sip:+15550156@127.0.0.1:{sip}",
            LINES,
            api_url=url,
            api_key=key,
            timeout_s=60,
            model_dir=tmp_path / "models",
        )
        record = (await api.get(f"/v1/calls/{result['call_id']}", timeout=10)).json()
    heard = json.dumps([result["turns"], record["conversation"]], indent=1)
    assert result["completed"], heard
    turns = record["conversation"]["turns"]
    assert [(t["user_text"], t["agent_text"]) for t in turns[: len(LINES)]] == list(
        zip(LINES, ANSWERS, strict=True)
    ), heard
    stt = next(u for u in record["conversation"]["usage"] if u["stage"] == "stt")
    answered = datetime.fromisoformat(record["answered_at"])
    call_s = (datetime.fromisoformat(record["ended_at"]) - answered).total_seconds()
    # what the record counts is what Deepgram heard; and it is each line with its pre-roll and hangover,
    # not the greeting, the answers and the pauses around them
    assert abs(stt["audio_seconds"] - deepgram.audio_seconds) < 0.05
    assert 0 < stt["audio_seconds"] < 0.7 * call_s, (stt, call_s)
