"""The embedded engine reads a call's own facts: no model, no network."""

from typing import Any

from voicegrid.analysis.embedded import analyse, sentiment
from voicegrid.analysis.findings import CallInput
from voicegrid.analysis.plan import plan_of
from voicegrid.demo import KNOWLEDGE

GREETING = "Hello, thank you for calling Bella Pizza. How can I help you?"


def record(*lines: tuple[str, str], **facts: Any) -> dict[str, Any]:
    return {
        "created_at": "2026-12-02T15:00:00+00:00",
        "answered_at": "2026-12-02T15:00:01+00:00",
        "answered_s": 42.0,
        "outcome": "completed",
        "transcript": [{"speaker": s, "text": t} for s, t in lines],
        "tools": [],
        **facts,
    }


BOOKING = record(
    ("agent", GREETING),
    ("caller", "are you open tonight"),
    ("agent", "We are open every day from 11 am to 10 pm."),
    (
        "caller",
        "great, a table for four people tomorrow at seven pm, "
        "my number is five five five two zero one three four five six",
    ),
    ("agent", "Of course, I am transferring you to a colleague now."),
    tools=[{"name": "transfer_call", "ok": True, "arguments": "{}", "result": "ok"}],
    outcome="transferred",
    transfer_to="+15550199",
)
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "party_size": {"type": "integer", "minimum": 1},
        "date": {"type": "string", "format": "date"},
        "phone": {"type": "string"},
    },
    "required": ["name", "date"],
}


def test_a_booking_call_names_its_question_tool_outcome_entities_and_fills_the_schema_it_can() -> None:
    analysis = analyse(CallInput(BOOKING, KNOWLEDGE), plan_of({"schema": SCHEMA}))
    assert analysis.status == "done"
    assert analysis.engine == "embedded"
    assert [(i.intent, i.answered) for i in analysis.intents] == [("When are you open?", True)]
    assert analysis.tools == ["transfer_call"]
    assert (analysis.outcome, analysis.transferred) == ("transferred", True)
    assert [(e.kind, e.value) for e in analysis.entities] == [
        ("date", "2026-12-02"),
        ("count", "4 people"),
        ("datetime", "2026-12-03T19:00"),
        ("phone", "+15552013456"),
    ]
    assert analysis.extracted == {"party_size": 4, "date": "2026-12-03", "phone": "+15552013456"}
    assert analysis.extraction_errors == ["(root): 'name' is a required property"]  # no name was said
    assert analysis.summary is not None
    assert "When are you open?" in analysis.summary
    assert analysis.success is not None
    assert analysis.success.passed
    assert analysis.sentiment is not None
    assert analysis.sentiment.label == "positive"


def test_an_unanswered_question_fails_the_default_rubric_and_asks_a_person_to_follow_up() -> None:
    call = record(
        ("agent", GREETING),
        ("caller", "do you deliver to the riverside area"),
        (
            "agent",
            "Sorry, I did not catch that. You can ask me about our opening hours, address or delivery.",
        ),
        ("caller", "this is useless, I want to speak to a human"),
        ("agent", "Sorry, I did not catch that."),
    )
    analysis = analyse(CallInput(call, KNOWLEDGE), plan_of({}))
    assert analysis.success is not None
    assert not analysis.success.passed
    assert "not answered: Do you deliver to me?" in analysis.success.reason
    assert analysis.agent_failed == ["did not understand the caller 2 times"]
    assert "asked for a person and was not transferred" in analysis.follow_up
    assert analysis.sentiment is not None
    assert analysis.sentiment.label == "negative"


def test_the_agent_s_own_checks_decide_success_on_a_score() -> None:
    plan = plan_of(
        {
            "success": {
                "scale": "score_0_10",
                "pass_mark": 5,
                "checks": [
                    {"kind": "tool_called", "value": ["transfer_call"]},
                    {"kind": "intent_answered", "value": ["When are you open?"]},
                    {"kind": "field_extracted", "value": ["name"]},
                    {"kind": "not_transferred"},
                ],
            },
            "schema": SCHEMA,
        }
    )
    analysis = analyse(CallInput(BOOKING, KNOWLEDGE), plan)
    assert analysis.success is not None
    assert (analysis.success.score, analysis.success.passed) == (5.0, True)
    assert "not extracted: name" in analysis.success.reason


def test_sentiment_is_neutral_when_nothing_felt_was_said() -> None:
    assert sentiment(["what is your address", "the riverside area"]).label == "neutral"
