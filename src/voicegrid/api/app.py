"""The FastAPI application: every v1 router, the error handlers and the idempotency layer."""

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from voicegrid import __version__
from voicegrid.api.body_limit import BodyLimitMiddleware
from voicegrid.api.errors import install_error_handlers
from voicegrid.api.idempotency import IdempotencyMiddleware
from voicegrid.api.owners import in_business, in_own_business, in_own_level, in_reseller
from voicegrid.api.resources import resource_router
from voicegrid.api.routes import (
    agent_tools,
    agent_versions,
    agents,
    analytics,
    api_keys,
    audit_log,
    billing,
    branding,
    businesses,
    calls,
    campaigns,
    capacity,
    credentials,
    dashboard,
    dnc,
    limits,
    me,
    media_streams,
    numbers,
    report,
    resellers,
    sessions,
    trunks,
    users,
)
from voicegrid.services import AppServices

BUSINESS_PREFIX = "/v1/businesses/{business_id}"
RESELLER_PREFIX = "/v1/resellers/{reseller_id}"


def create_app(engine: AsyncEngine, services: AppServices) -> FastAPI:
    app = FastAPI(
        title="voicegrid",
        version=__version__,
        summary="Multi-tenant AI phone agents: tenants, agents, numbers, trunks and calls",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(IdempotencyMiddleware, sessions=lambda: services.sessions)
    app.add_middleware(BodyLimitMiddleware)  # added last, so it runs first

    for module in (
        me,
        sessions,
        dashboard,
        resellers,
        businesses,
        limits,
        branding,
        audit_log,
        media_streams,
        capacity,
        billing,
        dnc,
        report,
    ):
        app.include_router(module.router)
    # Things only a business owns: under its prefix, and prefix-less for the business's own keys.
    for spec in (agents.SPEC, numbers.SPEC, trunks.SPEC, credentials.SPEC):
        app.include_router(resource_router(spec, in_business(spec.kind)), prefix=BUSINESS_PREFIX)
        app.include_router(resource_router(spec, in_own_business(spec.kind)), prefix="/v1")
    app.include_router(calls.router, prefix=BUSINESS_PREFIX, dependencies=[Depends(calls.business_in_path)])
    app.include_router(calls.router, prefix="/v1")
    app.include_router(
        campaigns.router, prefix=BUSINESS_PREFIX, dependencies=[Depends(calls.business_in_path)]
    )
    app.include_router(campaigns.router, prefix="/v1")
    for router in (agent_versions.router, agent_tools.router):
        app.include_router(router, prefix=BUSINESS_PREFIX, dependencies=[Depends(calls.business_in_path)])
        app.include_router(router, prefix="/v1")
    app.include_router(analytics.analytics_router(in_business("calls")), prefix=BUSINESS_PREFIX)
    app.include_router(analytics.analytics_router(in_own_business("calls")), prefix="/v1")
    # Users and keys exist at every level; prefix-less means the caller's own level.
    for spec in (users.SPEC, api_keys.SPEC):
        app.include_router(resource_router(spec, in_business(spec.kind)), prefix=BUSINESS_PREFIX)
        app.include_router(resource_router(spec, in_reseller(spec.kind)), prefix=RESELLER_PREFIX)
        app.include_router(resource_router(spec, in_own_level(spec.kind)), prefix="/v1")
    return app
