"""The model engine: the analysis asked of an OpenAI-compatible model, as a structured output.

The request is a Chat Completion whose `response_format` is
`{"type": "json_schema", "json_schema": {"name", "description", "schema", "strict"}}` (OpenAI's
Structured Outputs, which vLLM, llama.cpp's server and others accept too). The schema is the
envelope of `envelope()`: the summary, the success verdict on the agent's rubric, the sentiment,
and the business's own schema under `extracted`. `strict` is asked for when the business's schema
is in the subset strict mode takes (`plan.strict_compatible`); either way the answer is checked
against the envelope here, and an answer that is not JSON, or does not match, is asked again once
and then recorded as failed: never stored as if valid. A provider's failure (timeout, refusal of
service, rate limit) is the runner's to retry later.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from voicegrid.analysis.errors import InvalidOutput
from voicegrid.analysis.findings import CallInput
from voicegrid.analysis.plan import AnalysisPlan, strict_compatible
from voicegrid.analysis.result import Analysis, CallFindings, Sentiment, Verdict
from voicegrid.providers.base import Meter
from voicegrid.providers.llm.base import LlmStage, TextDelta

MAX_TRANSCRIPT_CHARS = 24_000  # the newest part of a long call is kept
MAX_ANSWER_CHARS = 64_000
SCHEMA_NAME = "call_analysis"
SENTIMENT_SCORE = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}

# Builds the business's model for one analysis, with these extra request options.
LlmFor = Callable[[dict[str, Any]], Awaitable[LlmStage]]


def envelope(plan: AnalysisPlan) -> dict[str, Any]:
    """The JSON Schema the model answers in."""
    score: dict[str, Any] = (
        {"type": "number", "minimum": 0, "maximum": 10, "description": "0 (failed) to 10 (perfect)"}
        if plan.success.scale == "score_0_10"
        else {"type": "null"}
    )
    props: dict[str, Any] = {}
    if plan.summary:
        props["summary"] = {
            "type": "string",
            "description": "two or three sentences: what the caller wanted, and what the agent did",
        }
    props["success"] = {
        "type": "object",
        "properties": {
            "passed": {"type": "boolean"},
            "score": score,
            "reason": {"type": "string", "description": "one sentence: why"},
        },
        "required": ["passed", "score", "reason"],
        "additionalProperties": False,
    }
    if plan.sentiment:
        props["sentiment"] = {"type": "string", "enum": ["positive", "neutral", "negative"]}
    if plan.schema_ is not None:
        props["extracted"] = plan.schema_
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def response_format(plan: AnalysisPlan) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": SCHEMA_NAME,
            "description": "what a phone call between an AI agent and a caller achieved",
            "schema": envelope(plan),
            "strict": plan.schema_ is None or strict_compatible(plan.schema_),
        },
    }


def messages(call: CallInput, plan: AnalysisPlan, found: CallFindings) -> list[dict[str, Any]]:
    lines = [
        f"{'Agent' if t.get('speaker') == 'agent' else 'Caller'}: {t.get('text', '')}"
        for t in call.record.get("transcript") or []
        if isinstance(t, dict)
    ]
    transcript = "\n".join(lines)[-MAX_TRANSCRIPT_CHARS:]
    rubric = plan.success.rubric or "The caller got what they called for, and the agent made no mistake."
    scale = (
        f"Score the call from 0 to 10; {plan.success.pass_mark} or more passes."
        if plan.success.scale == "score_0_10"
        else "Say whether it passed; the score is null."
    )
    facts = {
        "outcome": found.outcome,
        "answered_seconds": call.record.get("answered_s"),
        "tools_called": found.tools,
        "tools_failed": found.failed_tools,
        "transferred": found.transferred,
    }
    return [
        {
            "role": "system",
            "content": "You analyse a finished phone call between an AI voice agent and a caller, for the "
            "business that runs the agent. Answer only with the JSON object the schema asks for. "
            "Extract only what the caller or the agent actually said; leave out what was not said.\n"
            f"Success means: {rubric}\n{scale}",
        },
        {
            "role": "user",
            "content": f"Call facts: {json.dumps(facts)}\nTranscript (speech recognition, may "
            f"contain errors):\n{transcript or '(nothing was said)'}",
        },
    ]


def read_answer(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The model's answer, if it is a JSON object matching the envelope; else InvalidOutput."""
    if len(text) > MAX_ANSWER_CHARS:
        raise InvalidOutput(f"an answer of {len(text)} characters")
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise InvalidOutput(f"not JSON: {exc}") from None
    from jsonschema import Draft202012Validator  # when first needed (see plan.check_schema)

    errors = sorted(Draft202012Validator(schema).iter_errors(answer), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise InvalidOutput(f"does not match the schema at {where}: {first.message[:200]}")
    if not isinstance(answer, dict):
        raise InvalidOutput("not a JSON object")
    return answer


async def ask(llm: LlmStage, request: list[dict[str, Any]], meter: Meter) -> str:
    parts: list[str] = []
    size = 0
    async for chunk in llm.stream(request, [], meter):
        if isinstance(chunk, TextDelta):
            parts.append(chunk.text)
            size += len(chunk.text)
            if size > MAX_ANSWER_CHARS:
                break
    return "".join(parts)


async def analyse(
    call: CallInput, plan: AnalysisPlan, found: CallFindings, llm: LlmStage, meter: Meter
) -> Analysis:
    """Ask the model, once more if its answer is invalid; ProviderError propagates (retry later)."""
    schema = envelope(plan)
    request = messages(call, plan, found)
    problems: list[str] = []
    for _ in range(2):
        try:
            answer = read_answer(await ask(llm, request, meter), schema)
        except InvalidOutput as exc:
            problems.append(exc.reason)
            continue
        success = answer["success"]
        score = success.get("score")
        passed = (
            float(score) >= plan.success.pass_mark
            if plan.success.scale == "score_0_10" and score is not None
            else bool(success["passed"])
        )
        label = answer.get("sentiment")
        return Analysis(
            **found.model_dump(),
            status="done",
            engine="llm",
            summary=answer.get("summary"),
            success=Verdict(passed=passed, score=score, reason=str(success.get("reason") or "")[:1000]),
            sentiment=Sentiment(label=label, score=SENTIMENT_SCORE[label]) if label else None,
            extracted=answer.get("extracted"),
        )
    return Analysis(
        **found.model_dump(),
        status="failed",
        engine="llm",
        reason="invalid output twice: " + " | ".join(problems),
    )
