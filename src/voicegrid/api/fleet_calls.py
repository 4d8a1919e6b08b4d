"""The calls API across nodes: a call held by another node is read, hung up and transferred there,
through the fleet's bus (`telephony.fleet`); the Live list gathers every node's calls; a recording
kept by another node is fetched from it (`forward_recording`).

`answer` is this node's side: what it says when another node asks about one of its calls. It
checks the business as the API does (a call of another business is not found), so a request that
crosses nodes sees no more than one that does not.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from voicegrid.api.call_views import CallOut, render
from voicegrid.api.context import Ctx
from voicegrid.core.egress import PERMISSIVE, DestinationError
from voicegrid.core.errors import HttpError
from voicegrid.core.http_client import HttpClient
from voicegrid.services import AppServices
from voicegrid.telephony.errors import FleetUnavailable
from voicegrid.telephony.service import TelephonyUnavailable
from voicegrid.tenancy import NotFound, TenancyError

log = logging.getLogger(__name__)
OPS = ("get", "hangup", "transfer", "live")


class Refused(TenancyError):
    """The holding node's refusal (409 the call cannot be transferred now, 422 a bad target...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _text(value: object, cap: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= cap else None


async def answer(services: AppServices, request: dict[str, Any]) -> dict[str, Any]:
    """This node's reply to another's request: {"status": 200, "call"|"calls": ...} or an error."""
    op, business = request.get("op"), _text(request.get("business_id"), 40)
    service, here = services.calls, services.records.node if services.records is not None else None
    if op not in OPS or business is None:
        return {"status": 400, "detail": "bad request"}
    if service is None:
        return {"status": 503, "detail": "telephony is not running on that node"}
    if op == "live":
        return {
            "status": 200,
            "calls": [render(c, here).model_dump(mode="json") for c in service.live(business)],
        }
    call_id = _text(request.get("call_id"), 40)
    call = service.find(business, call_id) if call_id is not None else None
    if call is None:
        return {"status": 404, "detail": "not found"}
    try:
        if op == "hangup":
            service.hangup(call)
        elif op == "transfer":
            to = _text(request.get("to"), 300)
            if to is None:
                return {"status": 400, "detail": "no transfer target"}
            service.transfer(call, to)
    except TenancyError as exc:
        return {"status": exc.status, "detail": exc.message}
    return {"status": 200, "call": render(call, here).model_dump(mode="json")}


async def remote_call(
    ctx: Ctx, business_id: str, call_id: str, op: str = "get", **extra: str
) -> CallOut | None:
    """The call as the node holding it answers (after `op`), or None when no other node holds it.
    503 when the holder does not answer; its refusals (409, 422) are raised as its own."""
    fleet = ctx.services.fleet
    if fleet is None:
        return None
    try:
        node = await fleet.holder(business_id, call_id)
    except FleetUnavailable as exc:
        log.warning("calls API: %s; answering from this node alone", exc)
        return None
    if node is None:
        return None
    try:
        reply = await fleet.ask(node, {"op": op, "business_id": business_id, "call_id": call_id, **extra})
    except FleetUnavailable as exc:
        raise TelephonyUnavailable(f"the node holding the call did not answer: {exc}") from None
    status = reply.get("status")
    if status == 404:
        return None
    if status == 200 and isinstance(reply.get("call"), dict):
        return CallOut.model_validate(reply["call"])
    detail = str(reply.get("detail") or "the node holding the call refused")[:300]
    if isinstance(status, int) and 400 <= status < 500:
        raise Refused(detail, status)
    raise TelephonyUnavailable(f"node {node}: {detail}")


async def remote_live(ctx: Ctx, business_id: str) -> list[CallOut]:
    """The business's live calls on every other node that holds some; a node that does not answer
    is left out (and logged), never the whole list."""
    fleet = ctx.services.fleet
    if fleet is None:
        return []
    try:
        holders = await fleet.holders(business_id)
    except FleetUnavailable as exc:
        log.warning("calls API: %s; listing this node's calls alone", exc)
        return []
    replies = await asyncio.gather(
        *(fleet.ask(node, {"op": "live", "business_id": business_id}) for node in holders),
        return_exceptions=True,
    )
    calls: list[CallOut] = []
    for node, reply in zip(holders, replies, strict=True):
        if isinstance(reply, BaseException) or reply.get("status") != 200:
            log.warning("calls API: node %s did not list its calls: %s", node, reply)
            continue
        calls.extend(CallOut.model_validate(c) for c in reply.get("calls", []) if isinstance(c, dict))
    return calls


FORWARDED = "X-Voicegrid-Forwarded"  # a request one node sent another: never sent on again
RECORDING_CONNECT_S, RECORDING_READ_S = 10.0, 30.0


async def forward_recording(ctx: Ctx, node: str) -> StreamingResponse:
    """The same request, with the caller's own credentials, to `node` (which checks them again), its
    WAV streamed back. The node's URL is the one it registered in the fleet, never a tenant's."""
    fleet = ctx.services.fleet
    request = ctx.request
    if fleet is None or request.headers.get(FORWARDED):
        raise NotFound(f"the recording is kept by node {node}; ask that node")
    try:
        base = await fleet.url_of(node)
    except FleetUnavailable as exc:
        raise TelephonyUnavailable(f"the node keeping the recording cannot be found: {exc}") from None
    if base is None:
        raise TelephonyUnavailable(f"node {node}, which keeps the recording, is not running")
    headers = {FORWARDED: fleet.node, "Authorization": request.headers.get("Authorization", "")}
    # a fleet node's own URL, from the fleet's registry (on the operator's network): not a tenant's
    client = HttpClient(
        PERMISSIVE, connect_timeout_s=RECORDING_CONNECT_S, read_timeout_s=RECORDING_READ_S, max_connections=1
    )
    try:
        upstream = await client.stream("GET", base.rstrip("/") + quote(request.url.path), headers)
    except (HttpError, DestinationError, TimeoutError) as exc:  # TimeoutError: the name's lookup
        await client.aclose()
        raise TelephonyUnavailable(f"node {node}, which keeps the recording, did not answer: {exc}") from None
    except BaseException:
        await client.aclose()
        raise
    if upstream.status != 200:
        await upstream.aclose()
        await client.aclose()
        if upstream.status == 404:
            raise NotFound("this call has no recording (it was erased, or is past its retention)")
        raise TelephonyUnavailable(f"node {node} answered {upstream.status} for the recording")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream:
                yield chunk
        finally:
            await upstream.aclose()
            await client.aclose()

    disposition = upstream.head.get("content-disposition") or ""
    return StreamingResponse(
        body(), media_type="audio/wav", headers={"Content-Disposition": disposition} if disposition else None
    )
