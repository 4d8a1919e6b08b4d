"""Sign-in for people: a user's email and password buy a session token, an API key that expires.

The token is a row of `api_keys` (hashed like any key) with the user's scope and role, `user_id` and
`expires_at`, so every route authorizes it exactly as a key; an admin sees and can revoke it in the
key list. Attempts are throttled per source address (a token bucket: a sweep over many emails slows
down) and per (email, source) with a backoff that grows with each failure and ends with a success, so
a stranger elsewhere cannot lock a user out by failing in their name. An unknown email costs the same
scrypt as a wrong password, and the check runs off the event loop. The source is the peer's address,
or the one a proxy the operator trusts forwarded (`trusted_proxies`). A user of a disabled business
or reseller gets 403 naming it, once the password is right.
"""

import asyncio
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import EmailStr, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.api import audit
from voicegrid.api.context import CtxDep, Session, check_tenant_enabled
from voicegrid.api.routes.users import MAX_ACCOUNTS
from voicegrid.api.schemas import In, Out
from voicegrid.core.clock import utcnow
from voicegrid.core.ids import new_id
from voicegrid.store.models import ApiKey, User
from voicegrid.telephony.ratelimit import SourceRateLimiter
from voicegrid.tenancy import NotAuthenticated, TooManyAttempts
from voicegrid.tenancy.keys import generate_api_key, hash_password, verify_password

router = APIRouter(tags=["sessions"])
SESSION_HOURS = 12
# Per (email, source): 5 failures free, then a wait that doubles with each further failure, up to
# 15 minutes: slow for a guesser, fine for a typo. Per source address more (an office shares one).
FREE_FAILURES, MAX_BACKOFF_S = 5, 900.0
SOURCE_BURST, SOURCE_PER_S = 30.0, 1 / 2
MAX_TRACKED = 100_000
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


class SignInThrottle:
    """Failures per (email, source) with their backoff, and a token bucket per source (per process)."""

    def __init__(self) -> None:
        self.by_source = SourceRateLimiter(SOURCE_PER_S, SOURCE_BURST)
        self._failures: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()  # count, last

    def wait_s(self, email: str, source: str, now: float) -> float:
        """How long this pair must still wait; 0 when it may try now."""
        count, last = self._failures.get((email, source), (0, now))
        if count < FREE_FAILURES:
            return 0.0
        backoff = min(MAX_BACKOFF_S, 2.0 ** (count - FREE_FAILURES))
        return max(0.0, last + backoff - now)

    def failed(self, email: str, source: str, now: float) -> None:
        count, _ = self._failures.pop((email, source), (0, now))
        self._failures[(email, source)] = (count + 1, now)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def succeeded(self, email: str, source: str) -> None:
        self._failures.pop((email, source), None)


def _throttle(request: Request) -> SignInThrottle:
    state = request.app.state
    if not hasattr(state, "sign_in_throttle"):
        state.sign_in_throttle = SignInThrottle()
    throttle: SignInThrottle = state.sign_in_throttle
    return throttle


async def _account(session: AsyncSession, email: str, password: str) -> User | None:
    """The enabled account of `email` the password opens (an email may have one in each of a few
    tenants; the one signed in to last wins). Every sign-in checks MAX_ACCOUNTS hashes, real or not,
    so the time taken tells nothing of how many accounts an email has."""
    users = list(
        await session.scalars(
            select(User).where(User.email == email).order_by(User.created_at).limit(MAX_ACCOUNTS)
        )
    )
    stored = [u.password_hash or _UNKNOWN for u in users] + [_UNKNOWN] * (MAX_ACCOUNTS - len(users))
    checks = await asyncio.to_thread(lambda: [verify_password(password, h) for h in stored])
    opened = [u for u, ok in zip(users, checks, strict=False) if ok and u.password_hash and not u.disabled]
    if not opened:
        return None
    epoch = datetime.min.replace(tzinfo=UTC)
    return max(opened, key=lambda u: u.last_login_at or epoch)


@router.post(
    "/v1/sessions", response_model=SignedIn, status_code=201, summary="Sign in with email and password"
)
async def sign_in(body: SignIn, request: Request, session: Session) -> Any:
    email = str(body.email).lower()
    throttle, now = _throttle(request), time.monotonic()
    source = request.client.host if request.client else "unknown"
    wait = throttle.wait_s(email, source, now)
    if wait > 0 or not throttle.by_source.allow(source, now):
        raise TooManyAttempts(retry_after_s=max(1, int(wait + 0.999)))
    user = await _account(session, email, body.password)
    if user is None:
        throttle.failed(email, source, time.monotonic())
        raise NotAuthenticated("wrong email or password")
    throttle.succeeded(email, source)
    await check_tenant_enabled(session, user.reseller_id, user.business_id)
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
