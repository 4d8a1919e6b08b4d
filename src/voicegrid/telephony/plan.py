"""The call plan: one admission for every call, whatever carries it (SIP, a carrier's media stream,
the browser).

`CallPlanner.plan` checks the business and reseller are enabled, takes a lease on their limits
(monthly minutes, concurrent calls, outbound calls per second), builds the agent once the call's id
exists (its tool webhooks carry that id) and reserves the agent's STT stream. It answers
`Refuse(reason)` or a `CallPlan`: what the call runs with, and how to give back what it holds.
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from voicegrid.capacity.leases import Lease, Refusal
from voicegrid.media.session import Talker
from voicegrid.providers.errors import ProviderError
from voicegrid.store.models import Agent, Business, Reseller
from voicegrid.telephony.admission import Admission
from voicegrid.telephony.agents import agent_for_kind

log = logging.getLogger(__name__)


class Conversation(Protocol):
    """What a voice agent offers beyond the media interface: its summary, its close, its STT slot."""

    def summary(self) -> dict[str, Any]: ...
    async def wait_closed(self) -> None: ...
    async def reserve_stt(self) -> ProviderError | None: ...
    async def unreserve_stt(self) -> None: ...
    def release(self) -> None:
        """Once the call is over and its summary taken: let go of all it holds (nothing is asked of
        it afterwards)."""


class VoiceAgent(Talker, Conversation, Protocol):
    """A voice agent's pipeline for one call: it talks on the call and keeps the conversation."""


VoiceAgentBuilder = Callable[[Agent, str], Awaitable[VoiceAgent]]  # (stored agent, call id)


@dataclass(frozen=True, slots=True)
class Refuse:
    """Why a call is not taken: `status` is the SIP status a SIP call is answered with."""

    status: int
    reason: str
    limit: str | None = None  # the limit that was reached, for X-Voicegrid-Limit
    retry_after_s: int | None = None

    def headers(self) -> list[tuple[str, str]]:
        out = []
        if self.retry_after_s is not None:
            out.append(("Retry-After", str(self.retry_after_s)))
        if self.limit is not None:
            out.append(("X-Voicegrid-Limit", self.limit))
        return out


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What an admitted call runs with. The defaults are a call with no tenant: comfort silence."""

    talker: Talker | None = None  # who talks once the call is up; None: comfort silence
    conversation: Conversation | None = None  # the voice agent's transcript, turns and usage
    business_id: str | None = None
    agent_id: str | None = None
    agent_version: int | None = None  # the agent's published version; None: a draft being tried
    max_duration_s: float | None = None  # hang up this long after the answer
    record: bool = False
    release: Callable[[], None] | None = None  # gives back what admission took (the call's lease)
    metadata: tuple[tuple[str, str], ...] = ()  # added to the call's (a trial call says so)
    trunk_id: str | None = None  # the business's trunk the call came through (inbound)
    suppress_silence: bool | None = None  # that trunk's RTP silence suppression; None: the node's


def _over(refusal: Refusal) -> Refuse:
    return Refuse(503, "Over capacity", refusal.limit, refusal.retry_after_s)


class CallPlanner:
    def __init__(self, admission: Admission, voice_agent: VoiceAgentBuilder | None = None) -> None:
        self.admission = admission
        self.voice_agent = voice_agent  # builds the pipeline of `voice` agents (the composition root's)

    async def plan(
        self,
        business: Business | None,
        reseller: Reseller | None,
        agent: Agent | None,
        direction: str,
        call_id: str,
    ) -> Refuse | CallPlan:
        if business is None or not business.enabled:
            return Refuse(403, "Business disabled")
        if reseller is None or not reseller.enabled:
            return Refuse(403, "Reseller disabled")
        if agent is None or agent.business_id != business.id:
            return Refuse(480, "No agent on this number")
        admitted = await self.admission.admit(business, reseller, direction)
        if isinstance(admitted, Refusal):
            return _over(admitted)
        return await self.build(admitted, agent, direction, call_id)

    async def build(self, lease: Lease, agent: Agent, direction: str, call_id: str) -> Refuse | CallPlan:
        """The plan of a call admitted under `lease`; on a refusal the lease is given back."""
        talker: Talker = agent_for_kind(agent.kind)
        conversation: Conversation | None = None
        try:
            if agent.kind == "voice" and self.voice_agent is not None:
                voice = await self.voice_agent(agent, call_id)
                talker = conversation = voice
                busy = await self.admission.reserve_stack(
                    lease, voice.reserve_stt, voice.unreserve_stt, direction
                )
                if busy is not None:  # its lease is given back already
                    return _over(busy)
        except Exception:  # a broken agent is refused, never a silent call
            log.exception("could not build voice agent %s", agent.id)
            await self.admission.release(lease)
            return Refuse(500, "Agent unavailable")
        except BaseException:
            await self.admission.release(lease)
            raise
        return CallPlan(
            talker=talker,
            conversation=conversation,
            business_id=agent.business_id,
            agent_id=agent.id,
            agent_version=agent.version or None,  # 0: a draft on trial
            max_duration_s=float(agent.max_call_seconds),
            record=agent.recording,
            release=functools.partial(self.admission.release_soon, lease),
            metadata=(("trial", "draft"),) if agent.version == 0 else (),
        )
