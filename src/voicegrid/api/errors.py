"""The one place where errors become HTTP responses."""

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from voicegrid.capacity.errors import OverLimit
from voicegrid.catalog import CatalogError, UnknownVersion
from voicegrid.pipeline.errors import ToolTestsBusy
from voicegrid.telephony.service import TelephonyUnavailable
from voicegrid.tenancy import InvalidInput, TenancyError, TooManyAttempts

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def validated_body(model: type[M], data: Mapping[str, Any]) -> M:
    """`data` as `model`, or the 422 a request body failing `model` gets: for a body made of what is
    stored and what was sent (a change), checked whole as a new one would be."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidInput)
    async def _invalid(_request: Request, exc: InvalidInput) -> JSONResponse:
        # Same shape as FastAPI's own 422, so clients read one format for field errors.
        detail = [{"loc": [exc.location, exc.field], "msg": exc.reason, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(TenancyError)
    async def _tenancy(_request: Request, exc: TenancyError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(UnknownVersion)
    async def _unknown_version(_request: Request, exc: UnknownVersion) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(CatalogError)
    async def _catalog(_request: Request, exc: CatalogError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(OverLimit)
    async def _over_limit(_request: Request, exc: OverLimit) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "limit": exc.limit},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(ToolTestsBusy)
    async def _tool_tests_busy(_request: Request, exc: ToolTestsBusy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "1"})

    @app.exception_handler(TelephonyUnavailable)
    async def _no_telephony(_request: Request, exc: TelephonyUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Reached only when a concurrent request won a race that the explicit checks could not see.
        log.info("integrity conflict: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return JSONResponse({"detail": "conflicts with an existing object"}, status_code=409)
