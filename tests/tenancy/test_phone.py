import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicegrid.tenancy import InvalidInput, normalize_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+15550100", "+15550100"),
        ("+1 (555) 010-0", "+15550100"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+49.30.1234567", "+49301234567"),
    ],
)
def test_numbers_in_common_notations_normalise_to_e164(raw: str, expected: str) -> None:
    assert normalize_e164(raw) == expected


@pytest.mark.parametrize(
    "raw", ["5550100", "+0123456", "+1", "+1234567890123456", "+1555abc", "", "++15550100"]
)
def test_numbers_that_are_not_e164_are_rejected_with_the_field_named(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_e164(raw, field="caller_ids")
    assert err.value.field == "caller_ids"


@given(st.text(max_size=60))
def test_no_input_escapes_normalisation_but_invalid_input(raw: str) -> None:
    try:
        out = normalize_e164(raw)
    except InvalidInput:
        return
    assert out.startswith("+")
    assert out[1:].isdigit()
    assert 3 <= len(out) - 1 <= 15
    assert normalize_e164(out) == out
