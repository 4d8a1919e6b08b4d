"""Concurrent-call leases: refused atomically at the limit, given back at hangup or on expiry."""

from voicegrid.capacity.leases import CallLeases, Lease, Limit, Refusal


def limits(business: int | None, reseller: int | None, biz: str = "b1") -> list[Limit]:
    return [
        Limit(f"business:{biz}", business, f"business {biz} max_concurrent_calls={business}"),
        Limit("reseller:r1", reseller, f"reseller r1 max_concurrent_calls={reseller}"),
    ]


def test_a_business_at_its_limit_is_refused_naming_the_limit_and_a_hangup_frees_the_slot() -> None:
    leases = CallLeases()
    first = leases.admit(limits(2, None), "inbound", 0)
    second = leases.admit(limits(2, None), "outbound", 0)
    assert isinstance(first, Lease)
    assert isinstance(second, Lease)
    third = leases.admit(limits(2, None), "inbound", 0)
    assert third == Refusal("business b1 max_concurrent_calls=2", 5)
    leases.release(first)
    assert isinstance(leases.admit(limits(2, None), "inbound", 0), Lease)
    assert (leases.admitted, leases.refused) == (3, 1)


def test_the_resellers_limit_bounds_all_its_businesses_and_a_refusal_takes_nothing() -> None:
    leases = CallLeases()
    assert isinstance(leases.admit(limits(None, 2, "b1"), "inbound", 0), Lease)
    assert isinstance(leases.admit(limits(None, 2, "b2"), "inbound", 0), Lease)
    refused = leases.admit(limits(None, 2, "b3"), "inbound", 0)
    assert isinstance(refused, Refusal)
    assert "reseller r1" in refused.limit
    assert leases.count("business:b3", 0) == 0  # nothing was half-taken


def test_leases_that_are_not_renewed_expire_within_the_ttl() -> None:
    leases = CallLeases(ttl_s=30)
    kept = leases.admit(limits(2, None), "inbound", 0)
    lost = leases.admit(limits(2, None), "inbound", 0)
    assert isinstance(kept, Lease)
    assert isinstance(lost, Lease)
    assert leases.renew(kept, 20)
    assert leases.count("business:b1", 29.9) == 2
    assert leases.count("business:b1", 30) == 1  # the unrenewed lease is gone at its TTL
    assert not leases.renew(lost, 31)
    assert leases.count("business:b1", 49.9) == 1
    assert leases.count("business:b1", 50) == 0
