"""Sign-in for people: a user's email and password buy a session token, an API key that expires.

The token is a row of `api_keys` (hashed like any key) with the user's scope and role, `user_id` and
`expires_at`, so every route authorizes it exactly as a key; an admin sees and can revoke it in the
key list. Attempts are throttled per source address and per email (a token bucket each), an unknown
email costs the same scrypt as a wrong password, and the check runs off the event loop.
"""

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import EmailStr, Field
from sqlalchemy import select

from voicegrid.api import audit
from voicegrid.api.context import CtxDep, Session
from voicegrid.api.schemas import In, Out
from voicegrid.core.clock import utcnow
from voicegrid.core.ids import new_id
from voicegrid.store.models import ApiKey, User
from voicegrid.telephony.ratelimit import SourceRateLimiter
from voicegrid.tenancy import NotAuthenticated, TooManyAttempts
from voicegrid.tenancy.keys import generate_api_key, hash_password, verify_password

router = APIRouter(tags=["sessions"])
SESSION_HOURS = 12
# Per email, 10 tries at once, then one every 30 s: slow for a guesser, fine for a typo. Per source
# address more (an office shares one address), but a sweep over many emails still slows down.
EMAIL_BURST, EMAIL_PER_S = 10.0, 1 / 30
SOURCE_BURST, SOURCE_PER_S = 30.0, 1 / 2
_UNKNOWN = hash_password("no such user: equal work for an unknown email")


class SignIn(In):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)


class SignedIn(Out):
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown this once")
    expires_at: datetime
    user_id: str
    name: str
    email: str
    scope: str
    role: str
    reseller_id: str | None
    business_id: str | None


def _allowed(request: Request, email: str) -> bool:
    """One token from the email's bucket and one from the source's (kept on the app, per process)."""
    state, now = request.app.state, time.monotonic()
    if not hasattr(state, "sign_in_throttle"):
        state.sign_in_throttle = (
            SourceRateLimiter(EMAIL_PER_S, EMAIL_BURST),
            SourceRateLimiter(SOURCE_PER_S, SOURCE_BURST),
        )
    by_email, by_source = state.sign_in_throttle
    source = request.client.host if request.client else "unknown"
    return bool(by_email.allow(email, now) and by_source.allow(source, now))


@router.post(
    "/v1/sessions", response_model=SignedIn, status_code=201, summary="Sign in with email and password"
)
async def sign_in(body: SignIn, request: Request, session: Session) -> Any:
    email = str(body.email).lower()
    if not _allowed(request, email):
        raise TooManyAttempts()
    user = await session.scalar(select(User).where(User.email == email))
    stored = user.password_hash if user is not None and user.password_hash else _UNKNOWN
    matches = await asyncio.to_thread(verify_password, body.password, stored)
    if user is None or not user.password_hash or not matches or user.disabled:
        raise NotAuthenticated("wrong email or password")
    key, at = generate_api_key(), utcnow()
    expires = at + timedelta(hours=SESSION_HOURS)
    row = ApiKey(
        id=new_id("key"),
        name=f"sign-in: {user.email}",
        role=user.role,
        scope=user.scope,
        reseller_id=user.reseller_id,
        business_id=user.business_id,
        key_hash=key.hash,
        hint=key.hint,
        created_by=user.id,
        user_id=user.id,
        expires_at=expires,
    )
    session.add(row)
    user.last_login_at = at
    await session.commit()
    return SignedIn(
        token=key.plaintext,
        expires_at=expires,
        user_id=user.id,
        name=user.name,
        email=user.email,
        scope=user.scope,
        role=user.role,
        reseller_id=user.reseller_id,
        business_id=user.business_id,
    )


@router.delete(
    "/v1/sessions/current",
    status_code=204,
    summary="Sign out: revoke this request's sign-in token (an ordinary API key is left as it is)",
)
async def sign_out(ctx: CtxDep) -> Response:
    key = await ctx.session.get(ApiKey, ctx.principal.key_id) if ctx.principal.key_id else None
    if key is not None and key.user_id is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            ctx,
            "revoke",
            "api-keys",
            key.id,
            business_id=key.business_id,
            reseller_id=key.reseller_id,
            changes={"sign_out": True},
        )
        await ctx.session.commit()
    return Response(status_code=204)
