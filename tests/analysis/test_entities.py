"""Entities in a caller's words, as telephone speech recognition writes them."""

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicegrid.analysis.entities import MAX_ENTITIES, entities

NOW = datetime(2026, 12, 2, 15, 0)


@pytest.mark.parametrize(
    ("said", "found"),
    [
        (
            "a table for four people tomorrow at seven pm",
            [("count", "4 people"), ("datetime", "2026-12-03T19:00")],
        ),
        ("call me back on five five five two zero one three four five six", [("phone", "+15552013456")]),
        ("my number is +44 20 7946 0958", [("phone", "+442079460958")]),
        ("my email is sam at example dot com", [("email", "sam@example.com")]),
        ("write to Sam.Jones@Example.org please", [("email", "Sam.Jones@example.org")]),
        ("the total was twenty five dollars and fifty cents", [("amount", "25.50 USD")]),
        ("I paid €12,50", [("amount", "12.50 EUR")]),
        ("are you open at nine pm", [("time", "21:00")]),
        ("the fifth of december at noon", [("datetime", "2026-12-05T12:00")]),
        ("what is your address", []),
        ("a table for 7", []),  # a bare number is no time
    ],
)
def test_the_caller_s_numbers_emails_dates_and_amounts_are_found_in_written_form(
    said: str, found: list[tuple[str, str]]
) -> None:
    assert [(e.kind, e.value) for e in entities([said], NOW)] == found


def test_an_entity_said_twice_is_listed_once_in_the_order_first_said() -> None:
    lines = ["my email is sam at example dot com", "yes sam at example dot com", "tomorrow at 7 pm"]
    assert [e.kind for e in entities(lines, NOW)] == ["email", "datetime"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=8))
def test_any_text_at_all_gives_a_bounded_list_of_entities_and_never_an_error(lines: list[str]) -> None:
    found = entities(lines, NOW)
    assert len(found) <= MAX_ENTITIES
