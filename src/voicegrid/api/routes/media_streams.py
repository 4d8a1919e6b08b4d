"""WebSocket media bridges: Twilio Media Streams connect here and talk to one of our agents.

TwiML: `<Connect><Stream url="wss://<host>/v1/media-streams/twilio"><Parameter name="agent_id"
value="agt_..."/><Parameter name="api_key" value="vg_..."/></Stream></Connect>`. Twilio sends no
headers we could check, so the `start` message's custom parameters carry a business API key (role
member or above) and an agent of that business; anything else closes the socket with 1008.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from voicegrid.api.context import AppServices, principal_for_key
from voicegrid.api.routes.dashboard import CSP, PAGE_HEADERS
from voicegrid.media.session import Agent as MediaAgent
from voicegrid.store.models import Agent
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.rtp_session import agent_for_kind
from voicegrid.tenancy import Forbidden, NotAuthenticated, Role, Scope
from voicegrid.transports.browser import BrowserStream
from voicegrid.transports.twilio import TwilioStream

router = APIRouter(tags=["media-streams"])
log = logging.getLogger(__name__)
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
START_TIMEOUT_S = 10.0


async def _agent(services: AppServices, api_key: str, agent_id: str) -> MediaAgent | None:
    """The agent that talks on this stream, if the key may use it: voice agents get the pipeline."""
    row = await _agent_row(services, api_key, agent_id)
    if row is None:
        return None
    if row.kind == "voice" and services.voice_agent is not None:
        return await services.voice_agent(row)
    return agent_for_kind(row.kind)


async def _agent_row(services: AppServices, api_key: str, agent_id: str) -> Agent | None:
    async with services.sessions() as session:
        try:
            principal = await principal_for_key(session, api_key)
        except (NotAuthenticated, Forbidden):  # unknown, revoked, or of a disabled business
            return None
        if principal.scope is not Scope.BUSINESS or not principal.role.at_least(Role.MEMBER):
            return None
        return await session.scalar(
            select(Agent).where(Agent.id == agent_id, Agent.business_id == principal.business_id)
        )


Outgoing = asyncio.Queue[str | bytes | None]


async def _serve(websocket: WebSocket, outgoing: Outgoing, receiver: Callable[[], Awaitable[None]]) -> None:
    """Run `receiver` beside one task that sends what the session queued, until either ends."""

    async def sender() -> None:
        while (item := await outgoing.get()) is not None:
            if isinstance(item, bytes):
                await websocket.send_bytes(item)
            else:
                await websocket.send_text(item)

    async def receive_then_stop() -> None:
        try:
            await receiver()
        except (WebSocketDisconnect, TimeoutError):
            pass
        finally:
            outgoing.put_nowait(None)

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(receive_then_stop())
            tasks.create_task(sender())
    except* (WebSocketDisconnect, RuntimeError) as errors:  # the socket went away mid-send
        log.debug("media stream ended: %s", errors.exceptions[0])
    finally:
        with contextlib.suppress(RuntimeError):
            await websocket.close()


async def _accept(websocket: WebSocket, services: AppServices) -> MediaClock | None:
    """Accept the socket; the media clock to pace it, or None (closed: no telephony here)."""
    await websocket.accept()
    if services.calls is None or services.calls.control is None:
        await websocket.close(code=TRY_AGAIN_LATER, reason="telephony is not running")
        return None
    return services.calls.control.clock


@router.websocket("/v1/media-streams/twilio")
async def twilio_media_stream(websocket: WebSocket) -> None:
    services: AppServices = websocket.app.state.services
    clock = await _accept(websocket, services)
    if clock is None:
        return
    outgoing: Outgoing = asyncio.Queue()
    closing = asyncio.Event()
    stream = TwilioStream(outgoing.put_nowait, lambda reason: closing.set())

    async def receiver() -> None:
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while stream.start is None:
                    stream.receive(await websocket.receive_text())
            params = stream.start.parameters
            agent = await _agent(services, params.get("api_key", ""), params.get("agent_id", ""))
            if agent is None:
                await websocket.close(code=POLICY_VIOLATION, reason="unknown key or agent")
                return
            stream.agent = agent
            clock.register(stream)
            stream.agent.on_start(stream)
            while not closing.is_set():
                stream.receive(await websocket.receive_text())
        finally:
            clock.unregister(stream)
            stream.hangup("remote")

    await _serve(websocket, outgoing, receiver)


TALK_PAGE = (Path(__file__).resolve().parents[1] / "static" / "talk.html").read_text()


def _inline_script_hashes(page: str) -> str:
    """CSP source expressions for the page's own inline scripts: they run, and nothing injected does."""
    found = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in found
    )


# The dashboard's policy and frame headers, with the talk page's one inline script allowed by its hash.
SECURITY_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": CSP.replace(
        "script-src 'self'", f"script-src 'self' {_inline_script_hashes(TALK_PAGE)}"
    ),
}


@router.get("/talk/{agent_id}", response_class=HTMLResponse, include_in_schema=False)
async def talk_page(agent_id: str) -> HTMLResponse:
    """The page itself holds no secret: it asks for the business's key and sends it over the socket."""
    return HTMLResponse(TALK_PAGE, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


@router.websocket("/v1/talk")
async def talk_stream(websocket: WebSocket) -> None:
    services: AppServices = websocket.app.state.services
    clock = await _accept(websocket, services)
    if clock is None:
        return
    outgoing: Outgoing = asyncio.Queue()
    closing = asyncio.Event()

    async def receiver() -> None:
        async with asyncio.timeout(START_TIMEOUT_S):
            hello = await websocket.receive_text()
        try:
            params = json.loads(hello)
            agent = await _agent(services, str(params["api_key"]), str(params["agent_id"]))
        except (ValueError, KeyError, TypeError):
            agent = None
        if agent is None:
            await websocket.close(code=POLICY_VIOLATION, reason="unknown key or agent")
            return
        stream = BrowserStream(agent, outgoing.put_nowait, outgoing.put_nowait, lambda r: closing.set())
        clock.register(stream)
        stream.agent.on_start(stream)
        try:
            while not closing.is_set():
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    stream.receive(message["bytes"])
        finally:
            clock.unregister(stream)
            stream.hangup("remote")

    await _serve(websocket, outgoing, receiver)
