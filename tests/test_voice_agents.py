"""An agent's stored settings become its calls' voice sessions."""

import os
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from voicegrid.api.routes.agents import TurnSettings
from voicegrid.store.models import Agent
from voicegrid.tenancy.secrets import SecretBox
from voicegrid.voice_agents import VoiceAgentFactory

# A value other than the default for each turn setting the API takes. slot_wait_ms is the one read
# by the provider gates instead of the session.
CHOSEN = {
    "min_silence_ms": 350,
    "max_wait_ms": 900,
    "barge_in_ms": 150,
    "early_llm": True,
    "reprompt_after_s": 11.0,
    "max_reprompts": 4,
    "vad_aggressiveness": 3,
    "stt_chunk_ms": 60,
    "stt_speech_only": True,
}


async def test_every_turn_setting_an_agent_is_given_reaches_its_calls_voice_session(tmp_path: Path) -> None:
    assert set(TurnSettings.model_fields) == {*CHOSEN, "slot_wait_ms"}  # a new setting is listed here
    defaults = TurnSettings()
    assert all(getattr(defaults, key) != value for key, value in CHOSEN.items())
    agent = Agent(
        id="agent_1",
        business_id="biz_1",
        name="Settings",
        language="en-US",
        greeting="",
        system_prompt="",
        knowledge_base={},
        stt={"provider": "simulated"},
        llm={"provider": "simulated"},
        tts={"provider": "simulated"},
        tools=[],
        turn=TurnSettings(**CHOSEN).model_dump(),  # type: ignore[arg-type]
    )
    factory = VoiceAgentFactory(async_sessionmaker(), SecretBox(os.urandom(32)), tmp_path)
    session = await factory.build(agent)
    assert {key: getattr(session.config, key) for key in CHOSEN} == CHOSEN
