"""The embedded engine: analysis with no language model, offline and free (the default).

It knows what the call's facts say (`findings`): the questions asked and answered, tools, outcome,
transfer, the entities in the caller's words. From them it writes a summary, judges success by the
agent's checks (or, with none, "every question answered, the agent did not fail"), scores the
caller's sentiment with VADER's lexicon, and fills the fields of the business's schema that an
entity answers: by format (date, time, date-time, email), or by a field's name (phone, email,
amount/price/total, party size/people/guests/count) and type, or an `enum` value the caller said.
It cannot know what only understanding gives: a name, a reason, free text; those fields stay out
and a required one is reported in `extraction_errors`.

CPU-bound, pure and deterministic: the runner calls it in a worker process, off the event loop.
"""

from typing import Any

from jsonschema import Draft202012Validator

from voicegrid.analysis.findings import CallInput, findings
from voicegrid.analysis.plan import AnalysisPlan, Check
from voicegrid.analysis.result import Analysis, CallFindings, Entity, Sentiment, Verdict
from voicegrid.providers.llm.knowledge_base import words

_VADER: Any = None  # VADER's analyser, loaded at the first use (its lexicon is ~7,500 words)


def sentiment(lines: list[str]) -> Sentiment:
    """The mean VADER compound score of the caller's lines that carry any feeling."""
    global _VADER
    if _VADER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _VADER = SentimentIntensityAnalyzer()
    scores = [_VADER.polarity_scores(line[:2000])["compound"] for line in lines[:200]]
    felt = [s for s in scores if s != 0.0]
    mean = sum(felt) / len(felt) if felt else 0.0
    label = "positive" if mean >= 0.05 else "negative" if mean <= -0.05 else "neutral"
    return Sentiment(label=label, score=round(mean, 3))


def _check(check: Check, found: CallFindings, extracted: dict[str, Any]) -> tuple[bool, str]:
    wanted = check.value
    if check.kind == "tool_called":
        ok = any(t in found.tools and t not in found.failed_tools for t in wanted)
        return ok, f"tool {' or '.join(wanted)} {'called' if ok else 'not called'}"
    if check.kind == "intent_answered":
        ok = any(i.intent in wanted and i.answered for i in found.intents)
        return ok, f"\u201c{' or '.join(wanted)}\u201d {'answered' if ok else 'not answered'}"
    if check.kind == "outcome_in":
        ok = found.outcome in wanted
        return ok, f"outcome {found.outcome} {'is' if ok else 'is not'} {' or '.join(wanted)}"
    if check.kind == "field_extracted":
        missing = [f for f in wanted if f not in extracted]
        return not missing, "fields extracted" if not missing else f"not extracted: {', '.join(missing)}"
    return not found.transferred, "not transferred" if not found.transferred else "transferred"


def judge(plan: AnalysisPlan, found: CallFindings, extracted: dict[str, Any]) -> Verdict:
    checks = plan.success.checks
    if checks:
        results = [_check(c, found, extracted) for c in checks]
        passed = sum(1 for ok, _ in results if ok)
        score = round(10 * passed / len(results), 1)
        reason = "; ".join(why for _, why in results)
    else:
        unanswered = [i.intent for i in found.intents if not i.answered]
        problems = [f"not answered: {q}" for q in unanswered] + found.agent_failed
        if found.outcome in ("failed", "error", "no_answer", "busy"):
            problems.append(f"outcome {found.outcome}")
        score = round(max(0.0, 10.0 - 2.5 * len(problems)), 1)
        passed = not problems
        answered = sum(1 for i in found.intents if i.answered)
        reason = (
            "; ".join(problems) if problems else f"{answered} question(s) answered; the agent did not fail"
        )
    if plan.success.scale == "score_0_10":
        return Verdict(passed=score >= plan.success.pass_mark, score=score, reason=reason)
    ok = passed == len(checks) if checks else passed
    return Verdict(passed=bool(ok), score=None, reason=reason)


# What a field takes (`want`) and the entities that answer it, the likeliest first: a booking's date
# is more often said with its time ("tomorrow at 7 pm") than alone.
_BY_NAME: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = (
    (("email", "e_mail", "mail"), "email", ("email",)),
    (("phone", "telephone", "mobile", "callback", "call_back", "number"), "phone", ("phone",)),
    (("amount", "price", "total", "cost", "budget", "spend", "paid"), "amount", ("amount",)),
    (
        ("size", "count", "people", "guests", "party", "persons", "quantity", "how_many", "seats"),
        "count",
        ("count",),
    ),
    (
        ("datetime", "date_time", "when", "appointment", "booking", "slot", "start"),
        "datetime",
        ("datetime", "date"),
    ),
    (("date", "day"), "date", ("datetime", "date")),
    (("time", "hour"), "time", ("datetime", "time")),
)
_BY_FORMAT: dict[str, tuple[str, tuple[str, ...]]] = {
    "date": ("date", ("datetime", "date")),
    "date-time": ("datetime", ("datetime",)),
    "time": ("time", ("datetime", "time")),
    "email": ("email", ("email",)),
}


def _value(entity: Entity, spec: dict[str, Any], want: str) -> Any:
    """The entity as the field takes it: a number for a numeric field, the date or time part of a
    date-time for a date or time field."""
    kind, value = entity.kind, entity.value
    types = spec.get("type")
    named = set(types) if isinstance(types, list) else {types}
    if kind in ("amount", "count"):
        number = float(value.split(" ")[0])
        if "integer" in named:
            return int(number)
        return number if "number" in named else value
    if kind == "datetime" and want == "date":
        return value[:10]
    if kind == "datetime" and want == "time":
        return value[11:16]
    if kind == "datetime" and spec.get("format") == "date-time":
        return value + ":00Z"  # the call's clock is UTC
    return value


def extract(
    schema: dict[str, Any], found: CallFindings, caller_words: set[str]
) -> tuple[dict[str, Any], list[str]]:
    """The schema's fields an entity answers, each checked against its own subschema, and what the
    whole schema then says is wrong or missing."""
    out: dict[str, Any] = {}
    properties: dict[str, Any] = schema.get("properties") or {}
    for name, spec in properties.items():
        if not isinstance(spec, dict):
            continue
        chosen = _BY_FORMAT.get(str(spec.get("format")))
        if chosen is None:
            lowered = name.lower()
            chosen = next(((w, k) for keys, w, k in _BY_NAME if any(key in lowered for key in keys)), None)
        candidate: Any = None
        if chosen is not None:
            want, kinds = chosen
            entity = next((e for kind in kinds for e in found.entities if e.kind == kind), None)
            if entity is not None:
                candidate = _value(entity, spec, want)
        if candidate is None and isinstance(spec.get("enum"), list):
            candidate = next(
                (
                    v
                    for v in spec["enum"]
                    if isinstance(v, str) and set(words(v)) and set(words(v)) <= caller_words
                ),
                None,
            )
        if candidate is None and spec.get("type") == "boolean" and "transfer" in name.lower():
            candidate = found.transferred
        if candidate is not None and Draft202012Validator(spec).is_valid(candidate):
            out[name] = candidate
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}"
        for e in Draft202012Validator(schema).iter_errors(out)
    ][:20]
    return out, errors


def summary(found: CallFindings, record: dict[str, Any]) -> str:
    parts: list[str] = []
    direction = "Outbound call" if record.get("direction") == "outbound" else "Call"
    parts.append(
        f"{direction} of {round(float(record.get('answered_s') or 0))} s, "
        f"outcome {found.outcome or 'unknown'}."
    )
    if found.intents:
        asked = ", ".join(
            f"\u201c{i.intent}\u201d ({'answered' if i.answered else 'not answered'})" for i in found.intents
        )
        parts.append(f"The caller asked {asked}.")
    else:
        parts.append("The caller asked nothing the knowledge base covers.")
    if found.tools:
        parts.append(f"The agent called {', '.join(found.tools)}.")
    if found.transferred:
        parts.append(
            "The call was transferred"
            + (f" to {record['transfer_to']}." if record.get("transfer_to") else ".")
        )
    if found.entities:
        told = ", ".join(f"{e.kind} {e.value}" for e in found.entities[:6])
        parts.append(f"The caller gave: {told}.")
    if found.agent_failed:
        parts.append(f"The agent {'; '.join(found.agent_failed)}.")
    return " ".join(parts)


def analyse(call: CallInput, plan: AnalysisPlan) -> Analysis:
    """The whole embedded analysis of one call."""
    found = findings(call)
    caller = call.lines("caller")
    extracted: dict[str, Any] | None = None
    errors: list[str] = []
    if plan.schema_ is not None:
        said = {w for line in caller for w in words(line)}
        extracted, errors = extract(plan.schema_, found, said)
    verdict = judge(plan, found, extracted or {})
    return Analysis(
        **found.model_dump(),
        status="done",
        engine="embedded",
        summary=summary(found, call.record) if plan.summary else None,
        success=verdict,
        sentiment=sentiment(caller) if plan.sentiment else None,
        extracted=extracted,
        extraction_errors=errors,
    )
