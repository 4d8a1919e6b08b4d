import time

from voicegrid.core.ids import id_prefix, new_id


def test_ids_carry_their_type_prefix_and_26_crockford_characters() -> None:
    object_id = new_id("agt")
    assert id_prefix(object_id) == "agt"
    body = object_id.split("_", 1)[1]
    assert len(body) == 26
    assert set(body) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_ids_made_later_sort_after_earlier_ones() -> None:
    first = new_id("biz")
    time.sleep(0.002)
    second = new_id("biz")
    assert first < second


def test_ids_made_in_the_same_millisecond_are_distinct_and_in_order() -> None:
    ids = [new_id("x") for _ in range(10_000)]
    assert len(set(ids)) == 10_000
    assert ids == sorted(ids)


def test_a_string_without_underscore_has_no_prefix() -> None:
    assert id_prefix("plain") == ""
