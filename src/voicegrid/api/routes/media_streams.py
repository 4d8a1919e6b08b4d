"""WebSocket media bridges: Twilio Media Streams connect here and talk to one of our agents.

TwiML: `<Connect><Stream url="wss://<host>/v1/media-streams/twilio"><Parameter name="agent_id"
value="agt_..."/><Parameter name="api_key" value="vg_..."/></Stream></Connect>`. Twilio sends no
headers we could check, so the `start` message's custom parameters carry a business API key (role
member or above) and an agent of that business; anything else closes the socket with 1008.
"""

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select

from voicegrid.api.context import AppServices, principal_for_key
from voicegrid.store.models import Agent
from voicegrid.telephony.media_streams import TwilioStream
from voicegrid.telephony.rtp_session import agent_for_kind
from voicegrid.tenancy import NotAuthenticated, Role, Scope

router = APIRouter(tags=["media-streams"])
log = logging.getLogger(__name__)
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
START_TIMEOUT_S = 10.0


async def _agent_kind(services: AppServices, api_key: str, agent_id: str) -> str | None:
    async with services.sessions() as session:
        try:
            principal = await principal_for_key(session, api_key)
        except NotAuthenticated:
            return None
        if principal.scope is not Scope.BUSINESS or not principal.role.at_least(Role.MEMBER):
            return None
        return await session.scalar(
            select(Agent.kind).where(Agent.id == agent_id, Agent.business_id == principal.business_id)
        )


@router.websocket("/v1/media-streams/twilio")
async def twilio_media_stream(websocket: WebSocket) -> None:
    services: AppServices = websocket.app.state.services
    await websocket.accept()
    if services.calls is None or services.calls.control is None:
        await websocket.close(code=TRY_AGAIN_LATER, reason="telephony is not running")
        return
    clock = services.calls.control.clock
    outgoing: asyncio.Queue[str | None] = asyncio.Queue()
    closing = asyncio.Event()
    stream = TwilioStream(outgoing.put_nowait, lambda reason: closing.set())

    async def sender() -> None:
        while (text := await outgoing.get()) is not None:
            await websocket.send_text(text)

    async def receiver() -> None:
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while stream.start is None:
                    stream.receive(await websocket.receive_text())
            params = stream.start.parameters
            kind = await _agent_kind(services, params.get("api_key", ""), params.get("agent_id", ""))
            if kind is None:
                await websocket.close(code=POLICY_VIOLATION, reason="unknown key or agent")
                return
            stream.agent = agent_for_kind(kind)
            clock.register(stream)
            stream.agent.on_start(stream)
            while not closing.is_set():
                stream.receive(await websocket.receive_text())
        except (WebSocketDisconnect, TimeoutError):
            pass
        finally:
            stream.hangup("remote")
            outgoing.put_nowait(None)

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(receiver())
            tasks.create_task(sender())
    except* (WebSocketDisconnect, RuntimeError) as errors:  # the socket went away mid-send
        log.debug("media stream ended: %s", errors.exceptions[0])
    finally:
        clock.unregister(stream)
        with contextlib.suppress(RuntimeError):
            await websocket.close()
