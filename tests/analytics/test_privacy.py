"""Personal data masked in transcripts: card numbers by the Luhn check, phone numbers by length."""

from hypothesis import given
from hypothesis import strategies as st

from voicegrid.analytics.privacy import MAX_TEXT, luhn, mask


def test_card_and_phone_numbers_are_masked_and_small_numbers_are_kept() -> None:
    assert mask("my card is 4111 1111 1111 1111 thanks") == "my card is [card] thanks"
    assert mask("call me on +1 (555) 010-0199 or 555.010.0123") == "call me on [phone] or [phone]"
    assert mask("call me on (555) 010 0199") == "call me on [phone]"
    assert mask("a table for 4 at 7 pm, 12:30, order 12345") == "a table for 4 at 7 pm, 12:30, order 12345"
    assert mask("account 9999 9999 9999 9999 99") == "account [number]"  # long, no card in it: still hidden
    assert mask("4111 1111 1111 1111 0") == "[card]"  # a card read out, then another digit
    assert luhn("4111111111111111")
    assert not luhn("4111111111111112")


@given(st.text(max_size=300), st.text(max_size=50))
def test_masking_stays_within_its_bound_and_never_leaves_a_card_number_standing(
    before: str, after: str
) -> None:
    assert len(mask(before)) <= len(before[:MAX_TEXT])  # a mask is never longer than what it hides
    assert "4111 1111 1111 1111" not in mask(f"{before} 4111 1111 1111 1111 {after}")
