"""What a call's own facts say, without a model: which of the knowledge base's questions the caller
asked and whether the agent answered them, the tools called, the outcome, the entities in the
caller's words, where the agent failed and what a person should follow up.

A caller's line asks a knowledge-base question when it matches the entry as the embedded agent
matches it (`providers.llm.knowledge_base.score`, keywords and question words with a near miss
each); the question counts as answered when the agent's reply carries most of the entry's answer
words. An agent on a cloud model that rephrases its answers freely may be under-counted.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from voicegrid.analysis.result import CallFindings, Intent
from voicegrid.providers.llm.knowledge_base import STOP, score, words

ASKED_SCORE = 2.0  # a keyword, or two words of the question
ANSWERED_SHARE = 0.6  # of the answer's content words, in the agent's reply
NOT_UNDERSTOOD = ("did not catch", "didn't catch", "did not understand", "didn't understand")
TRANSFER_TOOLS = ("transfer_call",)
ASKS_FOR_PERSON = frozenset({"person", "human", "someone", "manager", "operator", "agent", "representative"})


@dataclass(frozen=True, slots=True)
class CallInput:
    """One call to analyse: its stored record, and the agent's knowledge base and language."""

    record: dict[str, Any]
    knowledge_base: dict[str, Any] = field(default_factory=dict)
    language: str = "en-US"

    def lines(self, speaker: str) -> list[str]:
        return [
            str(t.get("text") or "")
            for t in self.record.get("transcript") or []
            if t.get("speaker") == speaker
        ]

    @property
    def when(self) -> datetime:
        stamp = datetime.fromisoformat(str(self.record["created_at"]))
        return stamp.replace(tzinfo=None)


def _content(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOP}


def intents(call: CallInput) -> list[Intent]:
    faq = [e for e in (call.knowledge_base.get("faq") or []) if isinstance(e, dict)][:500]
    transcript = [t for t in call.record.get("transcript") or [] if isinstance(t, dict)]
    found: dict[str, bool] = {}
    for i, line in enumerate(transcript):
        if line.get("speaker") != "caller":
            continue
        said = words(str(line.get("text") or ""))
        best, best_score = None, 0.0
        for entry in faq:
            points = score(said, entry)
            if points > best_score:
                best, best_score = entry, points
        if best is None or best_score < ASKED_SCORE:
            continue
        question = str(best.get("question") or "")
        answer = _content(str(best.get("answer") or ""))
        reply: set[str] = set()
        for later in transcript[i + 1 :]:
            if later.get("speaker") == "caller":
                break
            reply |= _content(str(later.get("text") or ""))
        answered = bool(answer) and len(answer & reply) / len(answer) >= ANSWERED_SHARE
        found[question] = found.get(question, False) or answered
    return [Intent(intent=q, answered=a) for q, a in found.items()]


def findings(call: CallInput) -> CallFindings:
    from voicegrid.analysis.entities import entities  # dateparser and friends: in the worker only

    record = call.record
    tools = [t for t in record.get("tools") or [] if isinstance(t, dict)]
    called = list(dict.fromkeys(str(t.get("name")) for t in tools))
    failed_tools = list(dict.fromkeys(str(t.get("name")) for t in tools if t.get("ok") is False))
    outcome = record.get("outcome")
    transferred = bool(record.get("transfer_to")) or outcome == "transferred"
    asked = intents(call)
    agent_lines, caller_lines = call.lines("agent"), call.lines("caller")
    failed: list[str] = []
    misses = sum(1 for line in agent_lines if any(p in line.lower() for p in NOT_UNDERSTOOD))
    if misses:
        failed.append(f"did not understand the caller {misses} time{'s' if misses > 1 else ''}")
    failed += [f"tool {name} failed" for name in failed_tools]
    for failure in record.get("failovers") or []:
        if isinstance(failure, dict):
            error = failure.get("error") or {}
            failed.append(
                f"{failure.get('stage')} provider {error.get('provider')} failed: "
                f"{error.get('kind', 'error')}"
            )
    if record.get("answered_at") and not agent_lines:
        failed.append("the agent never spoke")
    follow = [f"asked \u201c{i.intent}\u201d and got no answer" for i in asked if not i.answered]
    wanted_person = any(ASKS_FOR_PERSON & set(words(line)) for line in caller_lines)
    if wanted_person and not transferred:
        follow.append("asked for a person and was not transferred")
    if failed_tools:
        follow.append("a tool failed: " + ", ".join(failed_tools))
    if misses >= 2:
        follow.append("the agent did not understand the caller more than once")
    return CallFindings(
        intents=asked,
        tools=called,
        failed_tools=failed_tools,
        outcome=outcome,
        transferred=transferred,
        entities=entities(caller_lines, call.when, call.language),
        agent_failed=failed,
        follow_up=follow,
    )
