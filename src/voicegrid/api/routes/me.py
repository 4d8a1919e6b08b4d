"""Who the caller is, and health probes for load balancers."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from voicegrid.api.context import CtxDep
from voicegrid.services import unready_reason

router = APIRouter(tags=["meta"])


class MeOut(BaseModel):
    scope: str
    role: str
    reseller_id: str | None
    business_id: str | None
    key_id: str | None


@router.get("/v1/me", response_model=MeOut)
async def me(ctx: CtxDep) -> Any:
    p = ctx.principal
    return MeOut(
        scope=p.scope.value,
        role=p.role.value,
        reseller_id=p.reseller_id,
        business_id=p.business_id,
        key_id=p.key_id,
    )


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can serve: its database answers")
async def readyz(request: Request) -> Any:
    reason = await unready_reason(request.app.state.engine, request.app.state.services)
    if reason is not None:
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return {"status": "ok"}
