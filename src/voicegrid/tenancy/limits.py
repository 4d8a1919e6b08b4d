"""Quota arithmetic: a reseller's limits bound the sum of its businesses' limits."""

from dataclasses import dataclass, fields

from voicegrid.tenancy.errors import Conflict


@dataclass(frozen=True, slots=True)
class Limits:
    """None means unlimited."""

    max_concurrent_calls: int | None = None
    max_outbound_cps: float | None = None
    monthly_minutes: int | None = None
    reserved_inbound_calls: int | None = None  # of max_concurrent_calls, kept for inbound calls


LIMIT_FIELDS = tuple(f.name for f in fields(Limits))


def check_sum_within(reseller: Limits, businesses: list[Limits]) -> None:
    """Raise Conflict naming the first limit the businesses' sum exceeds.

    A business with no limit of its own counts as unbounded, which a bounded reseller cannot allow.
    """
    for name in LIMIT_FIELDS:
        cap = getattr(reseller, name)
        if cap is None:
            continue
        values = [getattr(b, name) for b in businesses]
        if any(v is None for v in values):
            raise Conflict(
                f"{name}: the reseller allows {cap} in total, so each of its businesses needs a value"
            )
        total = sum(values)
        if total > cap:
            raise Conflict(f"{name}: the businesses would total {total}, over the reseller's {cap}")
