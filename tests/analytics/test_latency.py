"""A call's latency percentiles: numpy's linear percentile, computed in plain Python."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from voicegrid.analytics.latency import call_latency, percentile

LATENCIES = st.one_of(
    st.integers(min_value=0, max_value=120_000),
    st.floats(min_value=-5_000, max_value=120_000, allow_nan=False),
    st.floats(min_value=0, max_value=3_000, allow_nan=False).map(lambda v: round(v, 1)),
)


@given(
    st.lists(LATENCIES, min_size=1, max_size=60),
    st.one_of(st.sampled_from([0.5, 0.95, 0.0, 1.0, 0.99]), st.floats(min_value=0, max_value=1)),
)
def test_a_percentile_is_numpys_linear_percentile_to_the_tenth_of_a_millisecond(
    values: list[float], q: float
) -> None:
    assert percentile(values, q) == round(float(np.percentile(values, q * 100)), 1)


def test_a_percentile_interpolates_between_the_closest_ranks_and_of_nothing_is_none() -> None:
    assert percentile([], 0.5) is None
    assert percentile([700], 0.95) == 700.0
    assert percentile([100, 200, 300, 400], 0.5) == 250.0
    assert percentile([400, 100, 300, 200], 0.95) == 385.0  # unsorted in: 300 + 0.85 * 100
    assert percentile([1, 2], 1.0) == 2.0


def test_a_calls_p95_reply_time_comes_from_its_turns_and_skips_turns_without_one() -> None:
    turns = [
        {"index": i, "speech_end_at": 10.0 * i, "first_packet_at": 10.0 * i + s}
        for i, s in enumerate([0.8, 0.9, 1.2])
    ]
    turns.append({"index": 3})  # a turn the caller talked over: no reply time
    out = call_latency(turns)
    assert len(out["turns"]) == 4
    v2v = [row["voice_to_voice_ms"] for row in out["turns"]]
    assert v2v == [800.0, 900.0, 1200.0, None]
    assert out["p50"]["voice_to_voice_ms"] == 900.0
    assert out["p95"]["voice_to_voice_ms"] == 1170.0  # 900 + 0.9 * 300
    assert out["p95"]["llm_first_token_ms"] is None  # no turn has the stamps
