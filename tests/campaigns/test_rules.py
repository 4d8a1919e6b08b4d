"""Calling windows in each contact's local time, retries per outcome, placeholders."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from voicegrid.campaigns import (
    Retries,
    RetryRule,
    Window,
    fill,
    outcome_class,
    placeholders,
    retries_of,
    window_of,
)

NEW_YORK, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
WEEKDAYS = Window(time(9), time(20), frozenset(range(5)))


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def test_an_open_window_answers_now() -> None:
    now = at(NEW_YORK, 2026, 12, 2, 10, 0)  # a Wednesday, 10:00
    assert WEEKDAYS.opens(now, NEW_YORK) == now


def test_before_the_window_it_opens_the_same_morning() -> None:
    assert WEEKDAYS.opens(at(NEW_YORK, 2026, 12, 2, 7, 30), NEW_YORK) == at(NEW_YORK, 2026, 12, 2, 9, 0)


def test_after_the_window_it_opens_the_next_working_morning_skipping_the_weekend() -> None:
    friday_evening = at(NEW_YORK, 2026, 12, 4, 20, 0)
    assert WEEKDAYS.opens(friday_evening, NEW_YORK) == at(NEW_YORK, 2026, 12, 7, 9, 0)  # Monday


def test_the_same_instant_is_open_in_one_zone_and_shut_in_another() -> None:
    now = at(NEW_YORK, 2026, 12, 2, 10, 0)  # midnight in Tokyo
    assert WEEKDAYS.opens(now, NEW_YORK) == now
    assert WEEKDAYS.opens(now, TOKYO) == at(TOKYO, 2026, 12, 3, 9, 0)


def test_a_window_opens_at_its_local_hour_across_a_change_of_clocks() -> None:
    saturday_before_dst = at(NEW_YORK, 2026, 3, 7, 12, 0)  # clocks go forward on Sunday 8 March
    every_day = Window(time(9), time(20), frozenset(range(7)))
    opens = every_day.opens(at(NEW_YORK, 2026, 3, 7, 21, 0), NEW_YORK)
    assert opens.astimezone(NEW_YORK).hour == 9
    assert (opens - saturday_before_dst).total_seconds() == (21 - 1) * 3600  # an hour shorter night


def test_a_window_read_from_its_stored_form() -> None:
    window = window_of({"start": "08:30", "end": "12:00", "days": [5, 6]})
    assert window == Window(time(8, 30), time(12), frozenset({5, 6}))


@pytest.mark.parametrize(
    ("call_outcome", "kind"),
    [
        ("completed", "answered"), ("answered", "answered"), ("transferred", "answered"),
        ("voicemail", "voicemail"), ("busy", "busy"), ("no-answer", "no-answer"),
        ("cancelled", "no-answer"), ("declined", "declined"), ("do-not-call", "do-not-call"),
        ("drained", "interrupted"), ("no-rtp", "failed"), (None, "failed"),
    ],
)  # fmt: skip
def test_each_call_outcome_is_one_kind_of_campaign_outcome(call_outcome: str | None, kind: str) -> None:
    assert outcome_class(call_outcome) == kind


def test_retries_stop_at_the_attempts_for_that_outcome_and_at_the_campaigns_maximum() -> None:
    retries = Retries({"busy": RetryRule(3, 600), "no-answer": RetryRule(2, 60)}, max_attempts=4)
    assert retries.next_delay("busy", attempts=1, ended_this_way=1) == 600
    assert retries.next_delay("busy", attempts=2, ended_this_way=2) == 600
    assert retries.next_delay("busy", attempts=3, ended_this_way=3) is None  # three busy in all
    assert retries.next_delay("no-answer", attempts=3, ended_this_way=1) == 60
    assert retries.next_delay("no-answer", attempts=4, ended_this_way=1) is None  # four attempts in all
    assert retries.next_delay("answered", attempts=1, ended_this_way=1) is None
    assert retries.next_delay("voicemail", attempts=1, ended_this_way=1) is None  # no rule: done


def test_an_interrupted_attempt_is_retried_as_a_failure() -> None:
    retries = retries_of({"failed": {"attempts": 2, "delay_s": 30}}, 3)
    assert retries.next_delay("interrupted", attempts=1, ended_this_way=1) == 30


def test_placeholders_are_filled_and_unknown_ones_are_left_as_written() -> None:
    template = "Hi {name}, your {item} is ready. {unknown} {not a placeholder} {{x}}"
    assert placeholders(template) == {"name", "item", "unknown", "x"}
    assert fill(template, {"name": "Ann", "item": "pizza"}) == (
        "Hi Ann, your pizza is ready. {unknown} {not a placeholder} {{x}}"
    )
