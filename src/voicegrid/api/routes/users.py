"""Users of a business, a reseller or the platform, each with one role there."""

import asyncio
from datetime import datetime
from typing import Any

from pydantic import EmailStr, Field
from sqlalchemy import func, select, update

from voicegrid.api.context import Ctx
from voicegrid.api.owners import Owner
from voicegrid.api.resources import ResourceSpec
from voicegrid.api.schemas import In, Stamped
from voicegrid.core.clock import utcnow
from voicegrid.store.models import ApiKey, User
from voicegrid.tenancy import Conflict, Forbidden, InvalidInput, Role
from voicegrid.tenancy.keys import hash_password
from voicegrid.tenancy.policy import check_grant

MAX_ACCOUNTS = 3  # accounts one email may hold across tenants (each costs a hash check at sign-in)
Password = Field(default=None, min_length=10, max_length=200)


class UserCreate(In):
    email: EmailStr
    name: str = Field(default="", max_length=200)
    role: Role
    password: str | None = Password


class UserUpdate(In):
    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    password: str | None = Password
    disabled: bool | None = None


class UserOut(Stamped):
    scope: str
    reseller_id: str | None
    business_id: str | None
    email: str
    name: str
    role: Role
    disabled: bool
    last_login_at: datetime | None


async def build(
    ctx: Ctx, owner: Owner, row_id: str, given: dict[str, Any], existing: User | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    values = dict(given)
    for name in ("role", "disabled", "name"):
        if name in values and values[name] is None:
            raise InvalidInput(name, "may not be null")
    if existing is not None:
        check_grant(ctx.principal, Role(existing.role))  # no one edits a user above their own rank
    if values.get("role") is not None:
        check_grant(ctx.principal, Role(values["role"]))
        values["role"] = Role(values["role"]).value
    if "email" in values:
        # Unique within the tenant only: whether another tenant uses the email is never told.
        values["email"] = str(values["email"]).lower()
        tenant = owner.business_id or owner.reseller_id or "platform"
        same = (User.email == values["email"], User.owner == tenant)
        if await ctx.session.scalar(select(func.count()).where(*same)):
            raise Conflict("a user with this email already exists here")
        accounts = await ctx.session.scalar(select(func.count()).where(User.email == values["email"]))
        if (accounts or 0) >= MAX_ACCOUNTS:
            raise Conflict(f"an email can have at most {MAX_ACCOUNTS} accounts")
        values["owner"] = tenant
    password = values.pop("password", None)
    if password is not None:
        values["password_hash"] = await asyncio.to_thread(hash_password, password)
    new_role = values.get("role")
    demoted_or_moved = existing is not None and new_role is not None and new_role != existing.role
    if existing is not None and (values.get("disabled") or password is not None or demoted_or_moved):
        # A disabled user, a changed password or a changed role ends the user's sign-ins at once:
        # a session keeps the role it was signed in with, so it must not outlive that role.
        await _end_sign_ins(ctx, existing.id)
    if existing is None:
        values.update(owner.columns())
    return values, {}


async def before_delete(ctx: Ctx, user: User) -> bool:
    """No one deletes a user whose role is above their own; the user's sign-ins end with the user."""
    if not ctx.principal.role.at_least(Role(user.role)):
        raise Forbidden(f"a {ctx.principal.role.value} cannot delete a user with the {user.role} role")
    await _end_sign_ins(ctx, user.id)
    return False


async def _end_sign_ins(ctx: Ctx, user_id: str) -> None:
    live = ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)
    await ctx.session.execute(update(ApiKey).where(*live).values(revoked_at=utcnow()))


SPEC = ResourceSpec(
    kind="users",
    model=User,
    id_prefix="usr",
    create=UserCreate,
    update=UserUpdate,
    out=UserOut,
    build=build,
    render=lambda _ctx, row: UserOut.model_validate(row),
    on_delete=before_delete,
)
