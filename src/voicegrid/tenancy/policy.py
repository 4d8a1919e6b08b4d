"""The authorization rules: who may see which tenant, and which role each action needs.

Visibility comes first and fails as NotFound, so a caller cannot learn that another tenant's object
exists; a visible object the caller's role may not touch fails as Forbidden.
"""

from dataclasses import dataclass
from enum import StrEnum

from voicegrid.tenancy.errors import Forbidden, NotFound
from voicegrid.tenancy.roles import Principal, Role, Scope


class Action(StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Rule:
    read: Role
    write: Role
    write_scope: Scope = Scope.BUSINESS  # the lowest scope whose keys may write at all


# One row per kind of thing a business owns. Limits are quotas set from above, so a business's own
# keys may read them but never raise them.
BUSINESS_RULES: dict[str, Rule] = {
    "business": Rule(read=Role.VIEWER, write=Role.ADMIN, write_scope=Scope.RESELLER),
    "agents": Rule(read=Role.VIEWER, write=Role.MEMBER),
    "calls": Rule(read=Role.VIEWER, write=Role.MEMBER),
    "numbers": Rule(read=Role.VIEWER, write=Role.MEMBER),
    "trunks": Rule(read=Role.VIEWER, write=Role.ADMIN),
    "credentials": Rule(read=Role.VIEWER, write=Role.ADMIN),
    "users": Rule(read=Role.MEMBER, write=Role.ADMIN),
    "api-keys": Rule(read=Role.ADMIN, write=Role.ADMIN),
    "limits": Rule(read=Role.VIEWER, write=Role.ADMIN, write_scope=Scope.RESELLER),
    "audit-log": Rule(read=Role.ADMIN, write=Role.OWNER, write_scope=Scope.PLATFORM),
    "privacy": Rule(read=Role.VIEWER, write=Role.ADMIN),  # retention of transcripts, PII masking
    "webhooks": Rule(read=Role.ADMIN, write=Role.ADMIN),  # reading shows the signing key
    "do-not-call": Rule(read=Role.VIEWER, write=Role.MEMBER),  # anyone who calls may stop calling
    "campaigns": Rule(read=Role.VIEWER, write=Role.MEMBER),  # who may place calls may run campaigns
}

_SCOPE_RANK = {Scope.BUSINESS: 0, Scope.RESELLER: 1, Scope.PLATFORM: 2}


def scope_at_least(scope: Scope, other: Scope) -> bool:
    return _SCOPE_RANK[scope] >= _SCOPE_RANK[other]


def sees_business(p: Principal, business_id: str, reseller_id: str) -> bool:
    if p.scope is Scope.PLATFORM:
        return True
    if p.scope is Scope.RESELLER:
        return p.reseller_id == reseller_id
    return p.business_id == business_id


def sees_reseller(p: Principal, reseller_id: str) -> bool:
    return p.scope is Scope.PLATFORM or (p.scope is Scope.RESELLER and p.reseller_id == reseller_id)


def authorize_business(p: Principal, business_id: str, reseller_id: str, kind: str, action: Action) -> None:
    """Raise NotFound if `p` may not see the business, Forbidden if it may not do `action` on `kind`."""
    if not sees_business(p, business_id, reseller_id):
        raise NotFound()
    authorize_role(p, kind, action)


def authorize_role(p: Principal, kind: str, action: Action) -> None:
    """The role (and for writes, the scope) that `kind` needs, once the tenant is known to be visible."""
    rule = BUSINESS_RULES[kind]
    if action is Action.READ:
        needed = rule.read
    else:
        needed = rule.write
        if not scope_at_least(p.scope, rule.write_scope):
            raise Forbidden(f"{kind} can be changed only with a {rule.write_scope.value}-level key or above")
    if not p.role.at_least(needed):
        raise Forbidden(f"{action.value} on {kind} needs the {needed.value} role or above")


def authorize_platform(p: Principal, action: Action) -> None:
    """Platform-wide collections (resellers): platform keys only; viewers read, admins write."""
    if p.scope is not Scope.PLATFORM:
        raise Forbidden("this route needs a platform-level key")
    needed = Role.VIEWER if action is Action.READ else Role.ADMIN
    if not p.role.at_least(needed):
        raise Forbidden(f"{action.value} needs the {needed.value} role or above")


def authorize_reseller(p: Principal, reseller_id: str, action: Action) -> None:
    """A reseller's own record: readable by its own keys, writable by the platform's admins."""
    if not sees_reseller(p, reseller_id):
        if p.scope is Scope.BUSINESS:
            raise Forbidden("this route needs a reseller- or platform-level key")
        raise NotFound()
    if action is Action.WRITE:
        authorize_platform(p, action)


def check_grant(p: Principal, role: Role) -> None:
    """A caller may hand out a role (to a user or a key) no higher than its own."""
    if not p.role.at_least(role):
        raise Forbidden(f"a {p.role.value} cannot grant the {role.value} role")
