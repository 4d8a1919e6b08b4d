"""Erlang B and C against published tables, and the TTS rule of thumb reproduced and corrected."""

import pytest

from voicegrid.capacity.planning import (
    check_limits,
    erlang_b,
    erlang_c,
    mean_wait_s,
    plan,
    servers_for_blocking,
    tts_advice,
    wait_exceeds,
)


@pytest.mark.parametrize(
    ("load", "servers", "blocking"),
    [
        # Erlang B table (traffic in Erlangs that gives the blocking at N lines), as printed in
        # telephony references: 1% at 10 lines = 4.46 E, 2% at 10 lines = 5.08 E, 1% at 20 = 12.03 E,
        # 1% at 50 = 37.90 E, 0.1% at 5 lines = 0.76 E.
        (4.46, 10, 0.01),
        (5.08, 10, 0.02),
        (12.03, 20, 0.01),
        (37.90, 50, 0.01),
        (0.76, 5, 0.001),
    ],
)
def test_erlang_b_matches_the_published_table(load: float, servers: int, blocking: float) -> None:
    assert erlang_b(load, servers) == pytest.approx(blocking, rel=0.03)


def test_erlang_b_and_c_match_their_closed_forms() -> None:
    assert erlang_b(1, 1) == pytest.approx(1 / 2)
    assert erlang_b(2, 2) == pytest.approx(2 / 5)  # (E^2/2) / (1 + E + E^2/2)
    assert erlang_c(1, 2) == pytest.approx(1 / 3)
    assert erlang_c(2, 3) == pytest.approx(4 / 9)
    assert erlang_c(3, 3) == 1.0  # at full utilisation everyone waits
    assert mean_wait_s(3, 3, 1.0) == float("inf")
    # Erlang C's textbook call-centre case: 10 Erlangs on 11 agents waits 68.2% of the time.
    assert erlang_c(10, 11) == pytest.approx(0.682, abs=0.001)


def test_the_number_of_lines_for_a_blocking_target_is_the_smallest_that_meets_it() -> None:
    assert servers_for_blocking(4.46, 0.01) == 10
    assert erlang_b(4.46, 9) > 0.01


def test_the_tts_rule_of_thumb_is_reproduced_and_what_it_leaves_out_is_shown() -> None:
    one, three = tts_advice(1), tts_advice(3)
    # One 250 ms request every 10-20 s per conversation: one slot "serves" 40-80, three 120-240 ...
    assert (one.naive_low, one.naive_high) == (40, 80)
    assert (three.naive_low, three.naive_high) == (120, 240)
    # ... but at that load the slot is 100% busy and the wait grows without bound:
    assert wait_exceeds(40 * 0.25 / 10, 1, 0.25, 0.1) == 1.0
    # Keeping P(wait > 100 ms) under 1% serves far fewer conversations.
    assert one.served < 3
    assert three.served < 60
    for advice in (one, three):
        n = advice.served
        load = n * 0.25 / 10
        assert wait_exceeds(load, advice.slots, 0.25, 0.1) <= 0.01
        assert wait_exceeds((n + 1) * 0.25 / 10, advice.slots, 0.25, 0.1) > 0.01


def test_a_plan_sizes_calls_and_provider_slots_for_a_traffic_profile() -> None:
    result = plan(calls_per_hour=600, mean_call_s=180)  # 30 Erlangs
    assert result.offered_erlangs == pytest.approx(30)
    assert result.concurrent_calls == servers_for_blocking(30, 0.01)
    assert result.blocking <= 0.01
    assert result.tts_wait_probability <= 0.01
    assert result.llm_wait_probability <= 0.01
    assert 0 < result.tts_slots < result.concurrent_calls


def test_the_limits_set_are_checked_for_the_share_refused_or_kept_waiting() -> None:
    result = plan(calls_per_hour=600, mean_call_s=180)
    calls, stt, tts, llm = check_limits(result, calls=35, stt=150, tts=1, llm=4, llm_request_s=0.8)
    assert (calls.limit, calls.meaning) == ("max_concurrent_calls", "refused")
    assert calls.probability == pytest.approx(erlang_b(30, 35))
    assert 0.05 < calls.probability < 0.06  # 35 lines at 30 Erlangs lose about one call in 19
    assert stt.probability < 1e-12
    assert tts.utilisation == pytest.approx(result.tts_erlangs)
    assert tts.probability == pytest.approx(wait_exceeds(result.tts_erlangs, 1, 0.25, 0.1))
    assert llm.probability == pytest.approx(wait_exceeds(result.llm_erlangs, 4, 0.8, 0.1))
    overloaded = check_limits(result, llm=1)
    assert overloaded[0].probability == 1.0  # more offered than served: every request waits
