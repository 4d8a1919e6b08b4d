"""The node's services, as the composition root (`server`) wires them: what the API's routes, the
carrier media sockets and the call path share. No web framework here: a node serves calls before
its REST API is loaded."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voicegrid.pipeline.gating import ProviderSlots
from voicegrid.pipeline.tools import ToolTests
from voicegrid.store.engine import check_database
from voicegrid.store.errors import DatabaseUnavailable
from voicegrid.telephony.admission import Admission
from voicegrid.telephony.analyses import ModelFor
from voicegrid.telephony.plan import VoiceAgentBuilder
from voicegrid.telephony.records import CallRecords
from voicegrid.telephony.service import CallService
from voicegrid.telephony.trials import TrialRunner
from voicegrid.tenancy import SecretBox
from voicegrid.transports.streams import StreamCalls

if TYPE_CHECKING:  # Redis's client loads only on a node of a fleet
    from voicegrid.telephony.fleet import Fleet


@dataclass(slots=True)
class AppServices:
    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    public_url: str
    calls: "CallService | None" = None  # set once the SIP stack runs
    # builds a voice agent's pipeline for one conversation (the composition root sets it)
    voice_agent: "VoiceAgentBuilder | None" = None
    analysis_model: "ModelFor | None" = None  # the business's model for a post-call analysis
    admission: "Admission | None" = None  # business and reseller limits, shared by SIP and the API
    provider_slots: "ProviderSlots | None" = None  # the provider accounts' pools (per-turn gating)
    records: "CallRecords | None" = None  # finished calls -> journal -> store
    streams: "StreamCalls | None" = None  # calls over WebSocket media streams (set with the SIP stack)
    fleet: "Fleet | None" = None  # the other nodes: who holds which call, and asking them (Redis)
    trials: "TrialRunner | None" = None  # drafts' trial calls to this node (set with the SIP stack)
    # an agent's tool tried as a call would run it (the composition root sets the operator's policy)
    tool_tests: "ToolTests | None" = None

    def __post_init__(self) -> None:
        if self.tool_tests is None:
            self.tool_tests = ToolTests(lambda business_id: self.secrets.webhook_key(business_id))


async def unready_reason(engine: AsyncEngine, services: AppServices) -> str | None:
    """Why the node cannot serve, or None: its database does not answer, or its call records are
    not being stored (calls would pile up in the journal). What /readyz answers."""
    try:
        await check_database(engine, timeout_s=2.0)
    except DatabaseUnavailable as exc:
        return exc.reason
    records = services.records
    if records is not None and not records.recorder.healthy:
        return f"call records are not being stored: {records.recorder.last_error}"
    return None
