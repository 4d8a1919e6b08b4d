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
from voicegrid.tenancy import Conflict, InvalidInput, Role
from voicegrid.tenancy.keys import hash_password
from voicegrid.tenancy.policy import check_grant

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
        values["email"] = str(values["email"]).lower()
        if await ctx.session.scalar(select(func.count()).where(User.email == values["email"])):
            raise Conflict("a user with this email already exists")
    password = values.pop("password", None)
    if password is not None:
        values["password_hash"] = await asyncio.to_thread(hash_password, password)
    if existing is not None and (values.get("disabled") or password is not None):
        # A disabled user, or a changed password, ends the user's dashboard sign-ins at once.
        await ctx.session.execute(
            update(ApiKey)
            .where(ApiKey.user_id == existing.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if existing is None:
        values.update(owner.columns())
    return values, {}


SPEC = ResourceSpec(
    kind="users",
    model=User,
    id_prefix="usr",
    create=UserCreate,
    update=UserUpdate,
    out=UserOut,
    build=build,
    render=lambda _ctx, row: UserOut.model_validate(row),
)
