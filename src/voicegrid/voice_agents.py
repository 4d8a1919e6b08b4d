"""Composition: turn a stored voice agent into a `VoiceSession` for one call.

Part of the composition root (with `server` and `cli`): it reads the agent's provider lists,
decrypts the business's provider credentials, derives the business's webhook signing key, and
builds the failover lists, tools and turn settings the pipeline runs with.
"""

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.analysis.plan import LlmEngine
from voicegrid.core.egress import STRICT, Destinations
from voicegrid.pipeline import ToolRunner, VoiceConfig, VoiceSession
from voicegrid.pipeline.gating import ProviderSlots
from voicegrid.pipeline.tools import ToolTests
from voicegrid.providers import registry
from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.errors import ProviderError
from voicegrid.providers.llm.base import LlmStage
from voicegrid.providers.options import allowed_options
from voicegrid.providers.registry import build_llm, build_stt, build_tts
from voicegrid.providers.stt.pocketsphinx import agent_phrases
from voicegrid.store.models import Agent, Credential
from voicegrid.tenancy.errors import SecretError
from voicegrid.tenancy.secrets import SecretBox

log = logging.getLogger(__name__)
TURN_KEYS = (
    "min_silence_ms", "max_wait_ms", "barge_in_ms", "early_llm", "reprompt_after_s", "max_reprompts",
    "vad_aggressiveness", "stt_chunk_ms", "stt_speech_only",
)  # fmt: skip


def knowledge_text(kb: dict[str, Any]) -> str:
    lines = [str(kb.get("text", ""))]
    lines += [f"Q: {e.get('question', '')}\nA: {e.get('answer', '')}" for e in kb.get("faq", [])]
    return "\n".join(line for line in lines if line.strip())


def choices(stage: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A stage's provider choices in order: the first, then its fallbacks."""
    stage = stage or {}
    return [c for c in [stage, *(stage.get("fallbacks") or [])] if isinstance(c, dict)]


async def warm_providers(sessions: async_sessionmaker[AsyncSession], limit: int = 10_000) -> None:
    """Load the clients the stored agents use (at a node's start, before it serves; an agent made
    later has its clients loaded by its first call)."""
    async with sessions() as session:
        rows = (await session.execute(select(Agent.stt, Agent.llm, Agent.tts).limit(limit))).all()
    wanted = {
        (stage, str(choice.get("provider")))
        for row in rows
        for stage, value in zip(("stt", "llm", "tts"), row, strict=True)
        for choice in choices(value)
    }
    await registry.load(wanted)


class VoiceAgentFactory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        data_dir: Path,
        *,
        destinations: Destinations = STRICT,
        slots: ProviderSlots | None = None,
    ) -> None:
        self.slots = slots or ProviderSlots()  # provider accounts' fair pools, shared by every call
        self.destinations = destinations  # where tenants' base URLs and webhook tools may lead
        self.sessions = sessions
        self.secrets = secrets
        self.model_dir = data_dir / "models"
        self.tool_tests = ToolTests(self.webhook_key, destinations)  # the dashboard's "test" button

    def webhook_key(self, business_id: str) -> bytes:
        return self.secrets.webhook_key(business_id)

    async def _credentials(self, agent: Agent) -> dict[str, Credential]:
        ids = {
            c.get("credential_id")
            for stage in (agent.stt, agent.llm, agent.tts)
            for c in choices(stage)
            if c.get("credential_id")
        }
        return await self._credential_rows(agent.business_id, ids)

    async def _credential_rows(self, business_id: str, ids: set[Any]) -> dict[str, Credential]:
        if not ids:
            return {}
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Credential).where(Credential.id.in_(ids), Credential.business_id == business_id)
            )
            return {row.id: row for row in rows}

    def _configs(self, stage: str, agent: Agent, creds: dict[str, Credential]) -> list[ProviderConfig]:
        value = {"stt": agent.stt, "llm": agent.llm, "tts": agent.tts}[stage]
        return [self._config(stage, agent, choice, creds) for choice in choices(value)]

    def _config(
        self, stage: str, agent: Agent, choice: dict[str, Any], creds: dict[str, Credential]
    ) -> ProviderConfig:
        provider = str(choice["provider"])
        options, dropped = allowed_options(stage, provider, dict(choice.get("options") or {}))
        if dropped:
            log.warning("agent %s: %s options %s are not allowed; ignored", agent.id, provider, dropped)
        api_key = base_url = None
        cred = creds.get(choice.get("credential_id") or "")
        if cred is not None:
            try:
                api_key = self.secrets.decrypt(cred.secret_enc, f"credential:{cred.id}")
            except SecretError:
                log.warning("credential %s cannot be decrypted; its provider will fail over", cred.id)
            base_url = cred.base_url  # an endpoint comes from a credential, never from options
        options.update(self._server_options(provider, agent))  # the server's values win
        return ProviderConfig(
            provider,
            model=choice.get("model") or (agent.voice if provider == "deepgram" and stage == "tts" else None),
            api_key=api_key,
            base_url=base_url,
            options=options,
            destinations=self.destinations,
        )

    def _server_options(self, provider: str, agent: Agent) -> dict[str, Any]:
        if provider == "pocketsphinx":
            return {
                "phrases": agent_phrases(agent.knowledge_base or {}, agent.greeting),
                "model_dir": str(self.model_dir),
            }
        if provider == "knowledge-base":
            return {"knowledge_base": agent.knowledge_base or {}}
        if provider == "espeak-ng":
            return {"language": agent.language, **({"voice": agent.voice} if agent.voice else {})}
        if provider == "elevenlabs" and agent.voice:
            return {"voice_id": agent.voice}
        return {}

    async def analysis_llm(self, agent: Agent, engine: LlmEngine, options: dict[str, Any]) -> LlmStage:
        """The business's model for a post-call analysis (`options`: the request's response format),
        behind its account's gate as background work: live turns first."""
        choice = {"provider": engine.provider, "model": engine.model, "credential_id": engine.credential_id}
        creds = await self._credential_rows(agent.business_id, {engine.credential_id})
        config = self._config("llm", agent, choice, creds)
        await registry.load([("llm", config.provider)])
        config = dataclasses.replace(
            config,
            options={**config.options, **options, "temperature": 0.0},
            first_byte_timeout_s=30.0,  # a whole answer in one JSON document: slower than a turn
            idle_timeout_s=30.0,
        )
        return build_llm(
            [config], wrap=lambda p: self.slots.gate_llm(p, agent.business_id, 0.0, background=True)
        )

    async def build(self, agent: Agent, call_id: str = "") -> VoiceSession:
        creds = await self._credentials(agent)
        turn = {k: v for k, v in (agent.turn or {}).items() if k in TURN_KEYS}
        config = VoiceConfig(
            greeting=agent.greeting,
            system_prompt=agent.system_prompt,
            knowledge_text=knowledge_text(agent.knowledge_base or {}),
            language=agent.language,
            **turn,
        )
        stages = {stage: self._configs(stage, agent, creds) for stage in ("stt", "llm", "tts")}
        await registry.load((stage, c.provider) for stage, configs in stages.items() for c in configs)
        session: VoiceSession

        def report(stage: str, error: ProviderError) -> None:
            session.provider_failed(stage, error)

        tenant, wait_s = agent.business_id, float((agent.turn or {}).get("slot_wait_ms", 300)) / 1000
        session = VoiceSession(
            config,
            stt=build_stt(stages["stt"], report, lambda p: self.slots.gate_stt(p, tenant, wait_s)),
            llm=build_llm(stages["llm"], report, lambda p: self.slots.gate_llm(p, tenant, wait_s)),
            tts=build_tts(stages["tts"], report, lambda p: self.slots.gate_tts(p, tenant, wait_s)),
            tools=ToolRunner(
                list(agent.tools or []),
                signing_key=self.webhook_key(agent.business_id),
                call_id=call_id,
                agent_id=agent.id,
                destinations=self.destinations,
            ),
        )
        return session


AgentBuilder = Callable[[Agent], Awaitable[VoiceSession]]
