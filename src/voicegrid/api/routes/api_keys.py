"""API keys: made at a business, reseller or platform level with a role; shown once; revocable."""

from datetime import datetime
from typing import Any

from pydantic import Field

from voicegrid.api.context import Ctx
from voicegrid.api.owners import Owner
from voicegrid.api.resources import ResourceSpec
from voicegrid.api.schemas import In, Out
from voicegrid.core.clock import utcnow
from voicegrid.store.models import ApiKey
from voicegrid.tenancy import Role
from voicegrid.tenancy.keys import generate_api_key
from voicegrid.tenancy.policy import check_grant


class ApiKeyCreate(In):
    name: str = Field(default="", max_length=200)
    role: Role


class ApiKeyOut(Out):
    id: str
    name: str
    role: Role
    scope: str
    reseller_id: str | None
    business_id: str | None
    hint: str
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None = Field(default=None, description="sign-in sessions only")
    user_id: str | None = Field(default=None, description="sign-in sessions: the user signed in")


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself; shown in this response only")


async def build(
    ctx: Ctx, owner: Owner, row_id: str, given: dict[str, Any], existing: ApiKey | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    role = Role(given["role"])
    check_grant(ctx.principal, role)
    new = generate_api_key()
    values = {
        **owner.columns(),
        "name": given.get("name", ""),
        "role": role.value,
        "key_hash": new.hash,
        "hint": new.hint,
        "created_by": ctx.principal.actor,
    }
    return values, {"key": new.plaintext}


async def revoke(ctx: Ctx, row: ApiKey) -> bool:
    check_grant(ctx.principal, Role(row.role))
    row.revoked_at = utcnow()
    return True  # kept, revoked, so the audit trail can still name the key


SPEC = ResourceSpec(
    kind="api-keys",
    model=ApiKey,
    id_prefix="key",
    create=ApiKeyCreate,
    out=ApiKeyOut,
    created_out=ApiKeyCreated,
    build=build,
    render=lambda _ctx, row: ApiKeyOut.model_validate(row),
    on_delete=revoke,
    visible=lambda model: model.revoked_at.is_(None),
)
