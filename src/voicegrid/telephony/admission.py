"""Admission of one call, in or out, against its business's and its reseller's concurrent-call limits."""

import time

from voicegrid.capacity.leases import CallLeases, Lease, Refusal, call_limits
from voicegrid.store.models import Business, Reseller


def admit_call(
    leases: CallLeases, business: Business, reseller: Reseller | None, direction: str
) -> Lease | Refusal:
    return leases.admit(
        call_limits(
            business.id,
            business.max_concurrent_calls,
            reseller.id if reseller is not None else None,
            reseller.max_concurrent_calls if reseller is not None else None,
        ),
        direction,
        time.monotonic(),
    )
