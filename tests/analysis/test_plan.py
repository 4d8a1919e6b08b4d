"""An agent's analysis plan: the business's schema passes one check before it is saved."""

import pytest

from voicegrid.analysis import AnalysisPlan, SchemaRefused, check_schema
from voicegrid.analysis.plan import MAX_SCHEMA_BYTES, strict_compatible

BOOKING = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "party_size": {"type": "integer", "minimum": 1},
        "date": {"type": "string", "format": "date"},
    },
    "required": ["name", "date"],
}


def test_a_booking_schema_is_accepted_and_kept_as_written() -> None:
    assert check_schema(BOOKING) == BOOKING
    plan = AnalysisPlan.model_validate({"schema": BOOKING})
    assert plan.stored()["schema"] == BOOKING
    assert plan.engine == "embedded"


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (
            {"type": "object", "properties": {"n": {"type": "strin"}}},
            "not valid JSON Schema at properties/n/type",
        ),
        ({"type": "object", "properties": {"n": {"minimum": "one"}}}, "not valid JSON Schema"),
        ({"type": "array", "items": {"type": "string"}}, "the root is an object"),
        ({"type": "object", "properties": {}}, "no properties"),
        (
            {"type": "object", "properties": {"n": {"type": "string", "pattern": "^(a+)+$"}}},
            "regular expressions",
        ),
        ({"type": "object", "patternProperties": {"^x": {}}, "properties": {"a": {}}}, "regular expressions"),
        ({"type": "object", "properties": {"n": {"format": "regex"}}}, "regular expressions"),
        (
            {"type": "object", "properties": {"n": {"$ref": "https://example.com/s.json"}}},
            "`$ref` may point only",
        ),
        ("not an object", "a schema is a JSON object"),
    ],
)
def test_a_schema_that_is_not_valid_json_schema_or_not_one_we_run_is_refused_with_the_reason(
    schema: object, reason: str
) -> None:
    with pytest.raises(SchemaRefused) as refused:
        check_schema(schema)
    assert reason in refused.value.reason


def test_a_schema_too_large_too_deep_or_too_wide_is_refused() -> None:
    big = {
        "type": "object",
        "properties": {f"f{i}": {"type": "string", "description": "x" * 200} for i in range(100)},
    }
    with pytest.raises(SchemaRefused, match=f"at most {MAX_SCHEMA_BYTES}"):
        check_schema(big)
    deep: dict[str, object] = {"type": "string"}
    for _ in range(12):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(SchemaRefused, match="nested deeper"):
        check_schema(deep)
    nested: list[object] = []
    for _ in range(5000):  # a few kilobytes of brackets
        nested = [nested]
    with pytest.raises(SchemaRefused, match="nested deeper"):
        check_schema({"type": "object", "properties": {"n": {"enum": nested}}})
    wide = {"type": "object", "properties": {f"f{i}": {"type": "integer"} for i in range(500)}}

    with pytest.raises(SchemaRefused, match="subschemas"):
        check_schema(wide)


def test_the_model_engine_needs_its_model_and_credential() -> None:
    with pytest.raises(ValueError, match="engine `llm` needs `llm`"):
        AnalysisPlan.model_validate({"engine": "llm"})
    plan = AnalysisPlan.model_validate(
        {"engine": "llm", "llm": {"credential_id": "crd_1", "model": "gpt-4o-mini"}}
    )
    assert plan.llm is not None
    assert plan.llm.provider == "openai"


def test_strict_mode_is_asked_only_of_closed_schemas() -> None:
    assert not strict_compatible(BOOKING)
    closed = {**BOOKING, "required": ["name", "party_size", "date"], "additionalProperties": False}
    assert strict_compatible(closed)
