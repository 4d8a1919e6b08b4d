"""WebSocket media streams: Twilio Media Streams, Telnyx media streaming and the browser's talk page.

Each authenticates with a business API key (role member or above) and names an agent of that
business; the call is then admitted like a SIP call (`transports.streams`), or the socket is closed
with a reason and nothing is spoken: 1008 for an unknown key or agent or a disabled tenant, 1013
over a limit.

- Twilio, TwiML: `<Connect><Stream url="wss://<host>/v1/media-streams/twilio"><Parameter
  name="agent_id" value="agt_..."/><Parameter name="api_key" value="vg_..."/></Stream></Connect>`
  (optionally `from` and `to` parameters with the caller's and the dialled number).
- Telnyx, Call Control: `stream_url=wss://<host>/v1/media-streams/telnyx?agent_id=agt_...`,
  `stream_auth_token=<business key>`, `stream_bidirectional_mode=rtp`, codec PCMU or PCMA.
- The talk page: a first text frame `{"api_key": ..., "agent_id": ...}` (and `"draft": true` to talk
  to the agent's unpublished draft: the dashboard's "Talk to the draft"), then PCM16 at 16 kHz.
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

from voicegrid.api.context import principal_for_key
from voicegrid.api.routes.dashboard import CSP, PAGE_HEADERS
from voicegrid.services import AppServices
from voicegrid.store import agent_versions as versions
from voicegrid.store.models import Agent
from voicegrid.telephony.book import Call
from voicegrid.telephony.plan import Refuse
from voicegrid.tenancy import Forbidden, NotAuthenticated, Role, Scope
from voicegrid.transports.browser import BrowserStream
from voicegrid.transports.carrier import StreamStart
from voicegrid.transports.streams import (
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    StreamCalls,
    close_code,
    close_reason,
)
from voicegrid.transports.telnyx import SUPPORTED, TelnyxStream
from voicegrid.transports.twilio import TwilioStream

router = APIRouter(tags=["media-streams"])
log = logging.getLogger(__name__)
UNSUPPORTED_DATA = 1003
START_TIMEOUT_S = 10.0
MAX_ID_CHARS = 64


async def _agent_row(services: AppServices, api_key: str, agent_id: str, draft: bool = False) -> Agent | None:
    """The agent, if the key is a live business key of role member or above and the agent is its;
    with `draft`, the agent as its unpublished draft would answer (the call is a trial)."""
    if not api_key or not agent_id or len(api_key) > 256 or len(agent_id) > MAX_ID_CHARS:
        return None
    async with services.sessions() as session:
        try:
            principal = await principal_for_key(session, api_key)
        except (NotAuthenticated, Forbidden):  # unknown, revoked, or of a disabled business
            return None
        if principal.scope is not Scope.BUSINESS or not principal.role.at_least(Role.MEMBER):
            return None
        row = await session.scalar(
            select(Agent).where(Agent.id == agent_id, Agent.business_id == principal.business_id)
        )
        return versions.as_draft(row) if draft and row is not None else row


Refusal = tuple[int, str]  # a WebSocket close code and its reason


async def admit_stream(
    services: AppServices,
    streams: StreamCalls,
    transport: str,
    api_key: str,
    agent_id: str,
    start: StreamStart | None = None,
    *,
    draft: bool = False,
) -> Call | Refusal:
    """The admitted call, or the close code and reason the socket is to be closed with (nothing is
    spoken on a refused stream). Every socket server of media streams admits through here."""
    row = await _agent_row(services, api_key, agent_id, draft)
    if row is None:
        return POLICY_VIOLATION, "unknown key or agent"
    carrier_id = start.carrier_call_id if start is not None else None
    admitted = await streams.admit(
        row,
        transport,
        carrier_id,
        start.from_number if start is not None else None,
        start.to if start is not None else None,
    )
    if isinstance(admitted, Refuse):
        return close_code(admitted), close_reason(admitted)
    return admitted


async def _take_call(
    websocket: WebSocket,
    streams: StreamCalls,
    transport: str,
    api_key: str,
    agent_id: str,
    start: StreamStart | None = None,
    *,
    draft: bool = False,
) -> Call | None:
    """The admitted call; None once the socket is closed with the reason it was refused."""
    services: AppServices = websocket.app.state.services
    admitted = await admit_stream(services, streams, transport, api_key, agent_id, start, draft=draft)
    if isinstance(admitted, tuple):
        await websocket.close(code=admitted[0], reason=admitted[1])
        return None
    return admitted


def twilio_credentials(start: StreamStart) -> tuple[str, str]:
    """Twilio's key and agent: `<Parameter>`s of the stream's TwiML."""
    return start.parameters.get("api_key", ""), start.parameters.get("agent_id", "")


def telnyx_credentials(
    stream: TelnyxStream, header_token: str | None, query_agent: str | None
) -> Callable[[StreamStart], tuple[str, str] | str]:
    """Telnyx's key (the stream's auth token, in its header or `connected` frame, else a custom
    parameter) and agent (a custom parameter, else the URL's query), or why the stream is refused."""

    def credentials(start: StreamStart) -> tuple[str, str] | str:
        if start.encoding not in SUPPORTED:
            return f"codec {start.encoding}: use PCMU or PCMA"
        params = start.parameters
        api_key = header_token or stream.auth_token or params.get("api_key", "")
        return api_key, params.get("agent_id") or query_agent or ""

    return credentials


Outgoing = asyncio.Queue[str | bytes | None]


async def _serve(websocket: WebSocket, outgoing: Outgoing, main: Callable[[], Awaitable[None]]) -> None:
    """Run `main` (admission, then the call) beside one task that sends what the stream queued;
    when either ends (the stream closed, the peer went, the API hung up), so does the other."""

    async def sender() -> None:
        while (item := await outgoing.get()) is not None:
            if isinstance(item, bytes):
                await websocket.send_bytes(item)
            else:
                await websocket.send_text(item)

    tasks = [asyncio.ensure_future(main()), asyncio.ensure_future(sender())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(
                result, WebSocketDisconnect | RuntimeError | TimeoutError
            ):
                log.error("media stream failed", exc_info=result)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the peer may have closed first
            await websocket.close()


async def _accept(websocket: WebSocket) -> StreamCalls | None:
    """Accept the socket; the node's stream calls, or None (closed: no telephony here)."""
    await websocket.accept()
    services: AppServices = websocket.app.state.services
    if services.streams is None:
        await websocket.close(code=TRY_AGAIN_LATER, reason="telephony is not running")
        return None
    return services.streams


async def _carrier_call(
    websocket: WebSocket,
    stream: TwilioStream | TelnyxStream,
    outgoing: Outgoing,
    credentials: Callable[[StreamStart], tuple[str, str] | str],
) -> None:
    """A carrier's stream: its `start` frame, then admission (`credentials` gives the key and the
    agent, or why the stream is refused), then the call until it ends."""
    streams = await _accept(websocket)
    if streams is None:
        return

    async def main() -> None:
        async with asyncio.timeout(START_TIMEOUT_S):
            while stream.start is None:
                stream.receive(await websocket.receive_text())
        start = stream.start
        found = credentials(start)
        if isinstance(found, str):
            await websocket.close(code=UNSUPPORTED_DATA, reason=found)
            return
        call = await _take_call(websocket, streams, stream.carrier, found[0], found[1], start)
        if call is None:
            return

        async def receive() -> None:
            while not stream.closed:
                stream.receive(await websocket.receive_text())

        await streams.run(call, stream, receive)

    await _serve(websocket, outgoing, main)


@router.websocket("/v1/media-streams/twilio")
async def twilio_media_stream(websocket: WebSocket) -> None:
    outgoing: Outgoing = asyncio.Queue()
    stream = TwilioStream(outgoing.put_nowait, lambda reason: outgoing.put_nowait(None))
    await _carrier_call(websocket, stream, outgoing, twilio_credentials)


@router.websocket("/v1/media-streams/telnyx")
async def telnyx_media_stream(websocket: WebSocket) -> None:
    outgoing: Outgoing = asyncio.Queue()
    stream = TelnyxStream(outgoing.put_nowait, lambda reason: outgoing.put_nowait(None))
    credentials = telnyx_credentials(
        stream,
        websocket.headers.get("x-telnyx-streaming-auth-token"),
        websocket.query_params.get("agent_id"),
    )
    await _carrier_call(websocket, stream, outgoing, credentials)


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
    streams = await _accept(websocket)
    if streams is None:
        return
    outgoing: Outgoing = asyncio.Queue()
    stream = BrowserStream(outgoing.put_nowait, outgoing.put_nowait, lambda reason: outgoing.put_nowait(None))

    async def main() -> None:
        async with asyncio.timeout(START_TIMEOUT_S):
            hello = await websocket.receive_text()
        try:
            params = json.loads(hello) if len(hello) < 4096 else {}
            api_key, agent_id = str(params["api_key"]), str(params["agent_id"])
            draft = params.get("draft") is True  # the dashboard: talk to the draft before publishing
        except (ValueError, KeyError, TypeError):
            api_key, agent_id, draft = "", "", False
        call = await _take_call(websocket, streams, "browser", api_key, agent_id, draft=draft)
        if call is None:
            return

        async def receive() -> None:
            while not stream.closed:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    stream.receive(message["bytes"])

        await streams.run(call, stream, receive)

    await _serve(websocket, outgoing, main)
