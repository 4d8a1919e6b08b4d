"""Wrong provider credentials on a real call: the agent's cloud providers (emulated Deepgram and
OpenAI) refuse the key, the embedded engines next in each list take the turn, and the call record
says what failed."""

import json
from pathlib import Path

import httpx

from tests.support.serve import demo_node_reaching
from voicegrid.caller import place_call
from voicegrid.testing.emulators import DeepgramEmulator, OpenAiEmulator


async def test_wrong_cloud_credentials_fail_over_to_the_embedded_engines_within_the_turn(
    tmp_path: Path,
) -> None:
    deepgram = DeepgramEmulator(api_key="right-key")
    openai = OpenAiEmulator(api_key="right-key")
    async with demo_node_reaching(tmp_path, deepgram, openai) as (url, sip, key):
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=10) as api:
            demo = (await api.get("/v1/agents")).json()["items"]
            kb = next(a for a in demo if a["kind"] == "voice")["knowledge_base"]

            async def credential(provider: str, base: str) -> str:
                body = {
                    "name": f"wrong {provider}",
                    "provider": provider,
                    "secret": "wrong-key",
                    "base_url": base,
                }
                response = await api.post("/v1/credentials", json=body)
                assert response.status_code == 201, response.text
                return str(response.json()["id"])

            dg = await credential("deepgram", deepgram.http_url)
            oa = await credential("openai", openai.http_url + "/v1")
            agent = {
                "name": "Failover test",
                "greeting": "Hello, Bella Pizza.",
                "knowledge_base": kb,
                "stt": {
                    "provider": "deepgram",
                    "credential_id": dg,
                    "fallbacks": [{"provider": "pocketsphinx"}],
                },
                "llm": {
                    "provider": "openai",
                    "credential_id": oa,
                    "fallbacks": [{"provider": "knowledge-base"}],
                },
                "tts": {
                    "provider": "deepgram",
                    "credential_id": dg,
                    "fallbacks": [{"provider": "espeak-ng"}],
                },
                "tools": [{"name": "end_call", "kind": "end_call"}],
                # the embedded STT's final may come late on a busy machine: wait for it (failover
                # is under test here, not how long a turn waits for its transcript)
                "turn": {"min_silence_ms": 400, "max_wait_ms": 4000},
            }
            created = await api.post("/v1/agents", json=agent)
            assert created.status_code == 201, created.text
            number = {"number": "+15550155", "agent_id": created.json()["id"]}
            assert (await api.post("/v1/numbers", json=number)).status_code == 201
            result = await place_call(
                f"sip:+15550155@127.0.0.1:{sip}",
                ["are you open at nine pm", "thank you, bye"],
                api_url=url,
                api_key=key,
                timeout_s=60,
                model_dir=tmp_path / "models",
            )
            record = (await api.get(f"/v1/calls/{result['call_id']}")).json()
    assert result["completed"], json.dumps([result, record], indent=1)
    said = [t["text"] for t in result["turns"] if t["speaker"] == "agent"]
    heard = json.dumps([result["turns"], record["conversation"]["transcript"]], indent=1)
    assert said == [
        "Hello, Bella Pizza.",
        "We are open every day from 11 am to 10 pm.",
        "Thank you for calling. Goodbye!",
    ], heard
    errors = record["conversation"]["failovers"]
    # Each cloud provider failed once, with the vendor's refusal, and was not tried again.
    assert sorted((e["stage"], e["error"]["kind"], e["error"]["status"]) for e in errors) == [
        ("llm", "ProviderAuthError", 401),
        ("stt", "ProviderAuthError", 401),
        ("tts", "ProviderAuthError", 401),
    ]
    assert deepgram.requests == 2
    assert openai.requests == 1
    providers = {(t["llm_provider"], t["tts_provider"]) for t in record["conversation"]["turns"]}
    assert providers == {("knowledge-base", "espeak-ng")}
