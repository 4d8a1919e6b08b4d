"""Audit entries, written in the same transaction as the change they describe."""

from typing import Any

from voicegrid.api.context import Ctx
from voicegrid.core.ids import new_id
from voicegrid.store.models import AuditEntry

SECRET_FIELDS = frozenset({"password", "secret", "inbound_password", "outbound_password", "key"})


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_FIELDS and v is not None else v) for k, v in changes.items()}


def record(
    ctx: Ctx,
    action: str,
    resource: str,
    resource_id: str | None,
    *,
    business_id: str | None,
    reseller_id: str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    p = ctx.principal
    ctx.session.add(
        AuditEntry(
            id=new_id("aud"),
            reseller_id=reseller_id,
            business_id=business_id,
            actor_scope=p.scope.value,
            actor_role=p.role.value,
            key_id=p.key_id,
            user_id=p.user_id,
            action=action,
            resource=resource,
            resource_id=resource_id,
            changes=redact(changes or {}),
            source_ip=ctx.source_ip,
            user_agent=(ctx.request.headers.get("user-agent") or "")[:300] or None,
        )
    )
