"""The model engine's request and the one check of its answer."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicegrid.analysis.errors import InvalidOutput
from voicegrid.analysis.llm import envelope, read_answer, response_format
from voicegrid.analysis.plan import plan_of
from voicegrid.testing.emulators.openai import response_format_problem

CLOSED = {
    "type": "object",
    "properties": {"party_size": {"type": "integer"}},
    "required": ["party_size"],
    "additionalProperties": False,
}


def test_the_request_is_a_strict_structured_output_when_the_business_schema_is_closed() -> None:
    plan = plan_of({"schema": CLOSED, "success": {"scale": "score_0_10"}})
    asked = response_format(plan)
    assert response_format_problem(asked) is None  # as OpenAI documents it
    assert asked["json_schema"]["strict"] is True
    schema = asked["json_schema"]["schema"]
    assert schema["properties"]["extracted"] == CLOSED
    assert schema["properties"]["success"]["properties"]["score"]["maximum"] == 10
    assert schema["additionalProperties"] is False


def test_a_plan_without_summary_sentiment_or_schema_asks_only_for_the_verdict() -> None:
    schema = envelope(plan_of({"summary": False, "sentiment": False}))
    assert schema["required"] == ["success"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "not JSON"),
        ('{"success": ', "not JSON"),
        ("[1, 2]", "does not match the schema at (root)"),
        (json.dumps({"success": {"passed": True, "score": None, "reason": "ok"}, "extra": 1}), "(root)"),
        (json.dumps({"success": {"passed": "yes", "score": None, "reason": "ok"}}), "success/passed"),
        ("x" * 70_000, "an answer of 70000 characters"),
    ],
)
def test_an_answer_that_is_not_the_envelope_is_invalid_with_the_reason(answer: str, reason: str) -> None:
    schema = envelope(plan_of({"summary": False, "sentiment": False}))
    with pytest.raises(InvalidOutput) as invalid:
        read_answer(answer, schema)
    assert reason in invalid.value.reason


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=400),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(json.dumps),
    )
)
def test_any_answer_at_all_is_either_a_matching_object_or_invalid_output(answer: str) -> None:
    schema = envelope(plan_of({"schema": CLOSED}))
    try:
        found = read_answer(answer, schema)
    except InvalidOutput:
        return
    assert set(found) == {"summary", "success", "sentiment", "extracted"}
