"""Agent versions: the agent's columns are its published configuration (what calls use), numbered
`version`; `draft` holds the configuration as edited since. Publishing applies a configuration to
the columns under the next number and keeps a copy of it, so that any version can be read and
restored (restoring publishes the old configuration again, under a new number)."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.core.clock import utcnow
from voicegrid.store.models import Agent, AgentVersion

MAX_KEPT = 200  # versions kept per agent; older ones are dropped as new ones are published
# The columns of an agent that shape its calls: what a version holds.
CONFIG_FIELDS = (
    "name", "kind", "language", "greeting", "system_prompt", "knowledge_base", "voice", "stt", "llm",
    "tts", "tools", "turn", "max_call_seconds", "recording", "amd", "voicemail_message", "analysis",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Publisher:
    """Who publishes: shown beside each version."""

    label: str  # the user's email, or the API key's name
    user_id: str | None = None
    key_id: str | None = None


def config_of(agent: Agent) -> dict[str, Any]:
    """The published configuration, as a version keeps it."""
    return {name: getattr(agent, name) for name in CONFIG_FIELDS}


def working_config(agent: Agent) -> dict[str, Any]:
    """What the agent's editor shows: the draft, or the published configuration when there is none."""
    return dict(agent.draft) if agent.draft is not None else config_of(agent)


def as_draft(agent: Agent) -> Agent:
    """The agent as its draft would answer: a detached row of version 0 (a call on it is a trial)."""
    config = {k: v for k, v in working_config(agent).items() if k in CONFIG_FIELDS}
    return Agent(id=agent.id, business_id=agent.business_id, version=0, **config)


def keep(
    session: AsyncSession, agent: Agent, by: Publisher, restored_from: int | None = None
) -> AgentVersion:
    """Keep the agent's configuration as it is now, under its current number."""
    kept = AgentVersion(
        agent_id=agent.id,
        number=agent.version,
        business_id=agent.business_id,
        config=config_of(agent),
        published_at=utcnow(),
        published_by=by.label[:320],
        user_id=by.user_id,
        key_id=by.key_id,
        restored_from=restored_from,
    )
    session.add(kept)
    return kept


async def next_number(session: AsyncSession, agent: Agent) -> int:
    """One past the highest version kept (a restored version is published under a new number)."""
    highest = await session.scalar(
        select(func.max(AgentVersion.number)).where(AgentVersion.agent_id == agent.id)
    )
    return max(agent.version, highest or 0) + 1


async def prune(session: AsyncSession, agent: Agent) -> None:
    """Keep the newest MAX_KEPT versions of an agent: an API client publishing on every change must
    not grow the table without end."""
    await session.execute(
        delete(AgentVersion).where(
            AgentVersion.agent_id == agent.id, AgentVersion.number <= agent.version - MAX_KEPT
        )
    )


async def publish(
    session: AsyncSession,
    agent: Agent,
    config: dict[str, Any],
    by: Publisher,
    restored_from: int | None = None,
) -> AgentVersion:
    """Apply `config` (checked by the caller) as the agent's next version, and keep it."""
    for name in CONFIG_FIELDS:
        if name in config:
            setattr(agent, name, config[name])
    agent.version = await next_number(session, agent)
    kept = keep(session, agent, by, restored_from)
    await prune(session, agent)
    return kept


async def version_of(session: AsyncSession, agent_id: str, number: int) -> AgentVersion | None:
    return await session.get(AgentVersion, (agent_id, number))
