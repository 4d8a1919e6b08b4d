"""Who is asking: scopes, roles and the principal an API key or a user session stands for."""

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    PLATFORM = "platform"
    RESELLER = "reseller"
    BUSINESS = "business"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: "Role") -> bool:
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: its scope, its role there, and the tenant ids that scope fixes."""

    scope: Scope
    role: Role
    reseller_id: str | None = None
    business_id: str | None = None
    key_id: str | None = None
    user_id: str | None = None

    @property
    def actor(self) -> str:
        return self.key_id or self.user_id or "system"
