"""A CSV of numbers is read within its bounds: any bytes give a list or one refusal of the whole file,
and what is taken is E.164, once."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicegrid.tenancy import InvalidInput
from voicegrid.tenancy.number_list import parse_numbers

E164 = re.compile(r"\+[1-9][0-9]{2,14}")


@settings(max_examples=300)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: ("number,reason\n" + t).encode()))
def test_any_bytes_are_a_list_or_a_refusal_of_the_whole_file(data: bytes) -> None:
    try:
        found = parse_numbers(data, ("reason",), max_rows=50)
    except InvalidInput:
        return
    numbers = [row.number for row in found.taken]
    assert all(E164.fullmatch(n) for n in numbers)
    assert len(numbers) == len(set(numbers))
    assert all(len(row.fields["reason"]) <= 200 for row in found.taken)


def test_the_bounds_refuse_the_whole_file() -> None:
    with pytest.raises(InvalidInput, match="bytes"):
        parse_numbers(b"number\n" + b"+15550100\n" * 10, max_bytes=50)
    with pytest.raises(InvalidInput, match="over 3 rows"):
        parse_numbers(b"number\n+15550101\n+15550102\n+15550103\n+15550104\n", max_rows=3)
    assert len(parse_numbers(b"number\n+15550101\n+15550102\n+15550103\n", max_rows=3).taken) == 3
