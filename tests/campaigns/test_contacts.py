"""Campaign contacts from CSV or JSON: numbers validated by libphonenumber, time zones given or
derived, variables from the agent's placeholders; every row taken or refused with its reason."""

import contextlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicegrid.campaigns.contacts import contacts_from, parse_contacts, phone_number, zone_of
from voicegrid.tenancy import InvalidInput


def test_a_number_is_normalised_to_e164_with_the_region_for_numbers_without_a_plus() -> None:
    assert phone_number("+1 (212) 555-0199") == "+12125550199"
    assert phone_number("(212) 555-0199", "US") == "+12125550199"
    assert phone_number("020 7183 8750", "GB") == "+442071838750"


@pytest.mark.parametrize("raw", ["+15550100", "12", "not a number", "+1212555019999999", "+" + "9" * 50])
def test_numbers_outside_any_numbering_plan_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        phone_number(raw, "US")


def test_a_numbers_time_zone_comes_from_its_numbering_plan_when_it_has_one() -> None:
    assert zone_of("+12125550199") == "America/New_York"
    assert zone_of("+442071838750") == "Europe/London"
    assert zone_of("+79161234567") is None  # Russia spans many zones: the contact must name one


def test_a_file_is_taken_row_by_row_with_every_refusal_named() -> None:
    data = (
        b"number,name,timezone,item,junk\n"
        b"+12125550199,Ann,,pizza,x\n"
        b"2125550100,Bob,Europe/Paris,pasta,\n"
        b"+15550100,Cat,,,\n"
        b"+1 212 555 0199,Dup,,,\n"
        b"+442071838750,Lee,../../etc/passwd,,\n"
        b"+79161234567,Ivan,,,\n"
        b"hello,,,,\n"
    )
    found = parse_contacts(data, {"item"}, "US")
    assert [(c.row, c.number, c.name, c.timezone, c.variables) for c in found.taken] == [
        (2, "+12125550199", "Ann", "America/New_York", {"item": "pizza"}),
        (3, "+12125550100", "Bob", "Europe/Paris", {"item": "pasta"}),
    ]
    assert [(r.row, r.reason) for r in found.refused] == [
        (4, "not a valid number in its country's numbering plan"),
        (5, "the same number as row 2"),
        (6, "'../../etc/passwd' is not an IANA time zone"),
        (7, "no time zone: name one in the `timezone` column"),
        (8, "not a phone number: The string supplied did not seem to be a phone number."),
    ]
    assert found.ignored_columns == ["junk"]


def test_a_file_of_100000_contacts_is_read_whole() -> None:
    rows = "".join(f"+1212{5550000 + i:07d},n{i}\n" for i in range(100_000))
    found = parse_contacts(("number,name\n" + rows).encode(), set())
    assert len(found.taken) + len(found.refused) == 100_000
    assert len(found.taken) > 90_000


def test_one_row_over_100000_refuses_the_whole_file() -> None:
    rows = "".join(f"+1212555{i % 10000:04d}\n" for i in range(100_001))
    with pytest.raises(InvalidInput, match="over 100000 rows"):
        parse_contacts(("number\n" + rows).encode(), set())


def test_json_contacts_take_the_same_path_as_a_file() -> None:
    found = contacts_from(
        [
            {"number": "+12125550199", "name": "Ann", "item": "pizza"},
            {"number": "+12125550199"},
            {"number": "x"},
        ],
        {"item"},
    )
    assert [(c.number, c.variables) for c in found.taken] == [("+12125550199", {"item": "pizza"})]
    assert [r.row for r in found.refused] == [3, 4]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_report_or_a_refusal_of_the_whole_file_never_anything_else(data: bytes) -> None:
    try:
        found = parse_contacts(data, {"item"}, "US")
    except InvalidInput:
        return
    assert all(c.number.startswith("+") for c in found.taken)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(string.printable, max_size=30), min_size=1, max_size=6), st.integers(1, 30))
def test_any_table_of_text_is_read_without_an_error_other_than_a_refusal(cells: list[str], rows: int) -> None:
    table = "number,name,timezone\n" + "\n".join(",".join(cells) for _ in range(rows))
    with contextlib.suppress(InvalidInput):
        parse_contacts(table.encode(), set())
