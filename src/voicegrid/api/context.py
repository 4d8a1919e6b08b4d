"""Per-request context: the database session, the authenticated principal, and the app's services."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.core.clock import utcnow
from voicegrid.services import AppServices
from voicegrid.store.models import ApiKey, Business, Reseller
from voicegrid.tenancy import Forbidden, NotAuthenticated, Principal, Role, Scope
from voicegrid.tenancy.keys import hash_api_key

# last_used_at is written at most this often per key, so reads do not turn into writes.
LAST_USED_GRANULARITY = timedelta(seconds=60)


@dataclass(slots=True)
class Ctx:
    session: AsyncSession
    principal: Principal
    request: Request
    services: AppServices

    @property
    def source_ip(self) -> str | None:
        """The caller's address: the peer's, or, behind a proxy the operator trusts, the one it
        forwarded (uvicorn reads X-Forwarded-For only from `trusted_proxies`)."""
        return self.request.client.host if self.request.client else None


def services_of(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


async def open_session(request: Request):  # type: ignore[no-untyped-def]  # FastAPI generator dependency
    async with services_of(request).sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(open_session)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("missing bearer token: send 'Authorization: Bearer <api key>'")
    return token.strip()


async def check_tenant_enabled(
    session: AsyncSession, reseller_id: str | None, business_id: str | None
) -> None:
    """Forbidden, naming why, when the business or its reseller is disabled: its keys, sign-ins,
    calls and media streams are refused until its reseller or the platform enables it again."""
    # One small query per request (every authenticated request asks): both flags at once.
    if business_id is not None:
        flags = (
            await session.execute(
                select(Business.enabled, Reseller.enabled)
                .join(Reseller, Reseller.id == Business.reseller_id)
                .where(Business.id == business_id)
            )
        ).first()
        if flags is None or not flags[0]:
            raise Forbidden("this business is disabled")
        if not flags[1]:
            raise Forbidden("this reseller is disabled")
    elif reseller_id is not None and not await session.scalar(
        select(Reseller.enabled).where(Reseller.id == reseller_id)
    ):
        raise Forbidden("this reseller is disabled")


async def principal_for_key(session: AsyncSession, token: str) -> Principal:
    """The principal an API key stands for; NotAuthenticated for an unknown or revoked key, Forbidden
    for a key of a disabled business or reseller."""
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(token)))
    if key is None or key.revoked_at is not None:
        raise NotAuthenticated("unknown or revoked API key")
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        raise NotAuthenticated("this sign-in has expired: sign in again")
    await check_tenant_enabled(session, key.reseller_id, key.business_id)
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        key.last_used_at = now
        await session.commit()
    return Principal(
        scope=Scope(key.scope),
        role=Role(key.role),
        reseller_id=key.reseller_id,
        business_id=key.business_id,
        key_id=key.id,
        user_id=key.user_id,
    )


async def authenticate(request: Request, session: Session) -> Principal:
    return await principal_for_key(session, bearer_token(request))


async def get_ctx(
    request: Request, session: Session, principal: Annotated[Principal, Depends(authenticate)]
) -> Ctx:
    return Ctx(session=session, principal=principal, request=request, services=services_of(request))


CtxDep = Annotated[Ctx, Depends(get_ctx)]
