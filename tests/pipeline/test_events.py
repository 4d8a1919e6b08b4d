"""What a call's events look like as dicts (the summary, the record, the API)."""

from dataclasses import asdict, fields

from hypothesis import given
from hypothesis import strategies as st

from voicegrid.pipeline.events import BargeIn, ProviderFailed, Said, TurnMetrics, as_dict
from voicegrid.pipeline.intervals import measure

STAMP = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))
TURNS = st.builds(
    TurnMetrics,
    index=st.integers(0, 500),
    user_text=st.text(max_size=20),
    agent_text=st.text(max_size=20),
    interrupted=st.booleans(),
    **{f.name: STAMP for f in fields(TurnMetrics) if f.name.endswith("_at")},
    llm_provider=st.one_of(st.none(), st.text(max_size=8)),
)


@given(TURNS)
def test_a_turn_as_a_dict_has_every_field_in_order_and_every_interval_by_its_definition(
    turn: TurnMetrics,
) -> None:
    data = as_dict(turn)
    assert data == {**asdict(turn), **measure(asdict(turn))}
    assert list(data)[: len(fields(TurnMetrics))] == [f.name for f in fields(TurnMetrics)]


@given(st.floats(0, 1e6, allow_nan=False), st.sampled_from(["agent", "caller"]), st.text(max_size=30))
def test_a_transcript_line_as_a_dict_is_the_dataclass_field_for_field(
    at: float, speaker: str, text: str
) -> None:
    line = Said(at, speaker, text, turn=3)  # type: ignore[arg-type]
    assert as_dict(line) == asdict(line)
    assert list(as_dict(line)) == [f.name for f in fields(Said)]


def test_an_event_holding_a_dict_is_copied_so_a_summary_never_shares_it() -> None:
    failed = ProviderFailed(1.0, "llm", {"kind": "timeout"})
    data = as_dict(failed)
    data["error"]["kind"] = "changed"
    assert failed.error == {"kind": "timeout"}
    assert as_dict(BargeIn(2.0, 1, 5, None))["type"] == "barge_in"
