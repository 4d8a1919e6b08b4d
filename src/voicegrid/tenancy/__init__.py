"""Tenancy rules: scopes, roles and policy, API keys and passwords, secrets at rest, quotas, numbers."""

from voicegrid.tenancy.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    SecretError,
    TenancyError,
    TooManyAttempts,
)
from voicegrid.tenancy.limits import Limits, check_sum_within
from voicegrid.tenancy.phone import normalize_e164
from voicegrid.tenancy.policy import Action, authorize_business, authorize_platform, authorize_reseller
from voicegrid.tenancy.roles import Principal, Role, Scope
from voicegrid.tenancy.secrets import SecretBox

__all__ = [
    "Action",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "Limits",
    "NotAuthenticated",
    "NotFound",
    "Principal",
    "Role",
    "Scope",
    "SecretBox",
    "SecretError",
    "TenancyError",
    "TooManyAttempts",
    "authorize_business",
    "authorize_platform",
    "authorize_reseller",
    "check_sum_within",
    "normalize_e164",
]
