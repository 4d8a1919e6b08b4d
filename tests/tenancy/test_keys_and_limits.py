import pytest

from voicegrid.tenancy import Conflict, Limits, check_sum_within
from voicegrid.tenancy.keys import generate_api_key, hash_api_key, hash_password, verify_password


def test_a_new_api_key_is_stored_only_as_its_hash() -> None:
    new = generate_api_key()
    assert new.plaintext.startswith("vg_")
    assert new.hash == hash_api_key(new.plaintext)
    assert new.plaintext not in new.hash
    assert generate_api_key().plaintext != new.plaintext


def test_a_password_verifies_only_against_its_own_hash() -> None:
    stored = hash_password("correct horse battery")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("wrong horse battery", stored)
    assert not verify_password("x", "not-a-hash")


def test_businesses_within_the_reseller_limits_pass() -> None:
    check_sum_within(
        Limits(max_concurrent_calls=10), [Limits(max_concurrent_calls=4), Limits(max_concurrent_calls=6)]
    )


def test_businesses_over_the_reseller_limit_conflict_naming_the_limit() -> None:
    with pytest.raises(Conflict, match="max_concurrent_calls: the businesses would total 11"):
        check_sum_within(
            Limits(max_concurrent_calls=10), [Limits(max_concurrent_calls=5), Limits(max_concurrent_calls=6)]
        )


def test_an_unbounded_business_under_a_bounded_reseller_conflicts() -> None:
    with pytest.raises(Conflict, match="monthly_minutes"):
        check_sum_within(Limits(monthly_minutes=1000), [Limits()])


def test_an_unbounded_reseller_allows_anything() -> None:
    check_sum_within(Limits(), [Limits(), Limits(max_concurrent_calls=10**6)])
