"""The embedded "LLM": answers from the agent's FAQ and intents, deterministically, and calls tools.

It reads the last user message, matches it tolerantly against each FAQ entry (keywords, and the words
of the question, each allowed a near miss, since telephone speech recognition garbles words), and
answers with the best entry's text. Saying goodbye ends the call through `end_call`; an entry may name
a tool to call after its answer (the demo's "talk to a person" calls `transfer_call`). It speaks the
OpenAI chat format, so the pipeline cannot tell it from a real model.
"""

import asyncio
import difflib
import json
import re
from collections.abc import AsyncGenerator
from typing import Any

from voicegrid.providers.base import Usage
from voicegrid.providers.llm.base import Llm, LlmChunk, LlmUsage, Message, TextDelta, ToolCall, ToolSpec

WORD = re.compile(r"[a-z0-9']+")
STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "am",
        "do",
        "does",
        "did",
        "you",
        "your",
        "i",
        "me",
        "my",
        "we",
        "our",
        "to",
        "of",
        "for",
        "at",
        "in",
        "on",
        "and",
        "or",
        "it",
        "can",
        "could",
        "what",
        "when",
        "where",
        "how",
        "please",
        "would",
        "will",
        "be",
        "there",
        "this",
        "that",
        "with",
    ]
)
GOODBYE = frozenset({"bye", "goodbye", "thanks", "cheers"})
FALLBACK = "Sorry, I did not catch that. You can ask me about our opening hours, address or delivery."
GOODBYE_TEXT = "Thank you for calling. Goodbye!"


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _near(word: str, vocabulary: set[str]) -> bool:
    if word in vocabulary:
        return True
    return len(word) >= 4 and bool(difflib.get_close_matches(word, vocabulary, n=1, cutoff=0.8))


def score(said: list[str], entry: dict[str, Any]) -> float:
    keywords = {k.lower() for k in entry.get("keywords", [])}
    question = {w for w in words(str(entry.get("question", ""))) if w not in STOP}
    content = [w for w in said if w not in STOP]
    points = 2.0 * sum(1 for w in content if keywords and _near(w, keywords))
    points += 1.0 * sum(1 for w in content if question and _near(w, question))
    return points


class KnowledgeBaseLlm(Llm):
    name = "knowledge-base"

    def answer(self, user_text: str, tools: list[ToolSpec]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        """The reply text and the tools to call, for what the caller said."""
        kb = self.config.option("knowledge_base", {}) or {}
        tool_names = {t.name for t in tools}
        said = words(user_text)
        if not said:
            return "", []
        best, best_score = None, 0.0
        for entry in kb.get("faq", []):
            points = score(said, entry)
            if points > best_score:
                best, best_score = entry, points
        bye = any(w in GOODBYE for w in said) or ("thank" in said and len(said) <= 4)
        # a caller whose last word is goodbye is leaving, unless they asked more than one keyword's
        # worth (one word like it is what an STT makes of "thank you, bye" as "ten you bye")
        leaving = said[-1] in ("bye", "goodbye") and best_score <= 2.0
        if bye and (best_score < 2.0 or leaving):
            calls = [("end_call", {"reason": "caller said goodbye"})] if "end_call" in tool_names else []
            return GOODBYE_TEXT, calls
        if best is None or best_score < 1.0:
            return FALLBACK, []
        tool = best.get("tool")
        calls = [(tool, {})] if tool and tool in tool_names else []
        return str(best["answer"]), calls

    async def _stream(
        self, messages: list[Message], tools: list[ToolSpec], usage: Usage
    ) -> AsyncGenerator[LlmChunk, None]:
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":  # a tool answered; there is nothing more to say
            return
        user_text = str(last.get("content") or "") if last.get("role") == "user" else ""
        text, calls = self.answer(user_text, tools)
        delay = float(self.config.option("word_ms", 0)) / 1000
        for i, word in enumerate(text.split(" ") if text else []):
            if delay:
                await asyncio.sleep(delay)
            yield TextDelta(word if i == 0 else " " + word)
        for n, (name, args) in enumerate(calls):
            yield ToolCall(f"kb_{n}", name, json.dumps(args))
        prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
        yield LlmUsage(tokens_in=prompt_chars // 4, tokens_out=len(text) // 4)
