"""The options an agent may set, per stage and provider: a name, a type and a range each; no other.

What the server sets (model directories, the knowledge base, the agent's language, base URLs) is not
in these lists, so an agent cannot name it; the composition sets it after the agent's options, so
the server's value wins. A provider's endpoint comes from its credential only.
"""

import json
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], Any]  # returns the value, normalised, or raises ValueError saying why
MAX_JSON_BYTES = 64 * 1024


def _number(kind: type[int] | type[float], low: float, high: float) -> Check:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        if kind is int and value != int(value):
            raise ValueError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be from {low:g} to {high:g}")
        return kind(value)

    return check


def _choice(*allowed: str) -> Check:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return check


def _word(pattern: str, what: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return check


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _json(value: Any) -> Any:
    """Scripted data of the simulated providers: any JSON, within a size."""
    if len(json.dumps(value)) > MAX_JSON_BYTES:
        raise ValueError(f"must be at most {MAX_JSON_BYTES} bytes of JSON")
    return value


_LATENCY = _number(float, 0, 30_000)
_SIMULATED_COMMON = {"seed": _number(int, 0, 2**31), "fail": _word(r"[a-z0-9_-]{1,40}", "a fault name")}
ALLOWED: dict[tuple[str, str], dict[str, Check]] = {
    ("stt", "pocketsphinx"): {},
    ("stt", "deepgram"): {"endpointing_ms": _number(int, 10, 5000)},
    ("stt", "simulated"): {
        **_SIMULATED_COMMON,
        "transcripts": _json,
        "interim": _flag,
        "final_ms": _LATENCY,
        "final_jitter_ms": _LATENCY,
        "endpointing_ms": _LATENCY,
    },
    ("llm", "knowledge-base"): {"word_ms": _number(float, 0, 1000)},
    ("llm", "openai"): {"temperature": _number(float, 0, 2), "max_tokens": _number(int, 1, 16_384)},
    ("llm", "llama-cpp"): {"temperature": _number(float, 0, 2), "max_tokens": _number(int, 1, 16_384)},
    ("llm", "simulated"): {
        **_SIMULATED_COMMON,
        "replies": _json,
        "after_tool": _json,
        "token_ms": _LATENCY,
        "first_token_ms": _LATENCY,
        "first_token_jitter_ms": _LATENCY,
    },
    ("tts", "espeak-ng"): {
        # a voice name never starts with '-': it could not be read as an option even if it were passed
        "voice": _word(r"[A-Za-z0-9][A-Za-z0-9_+\-]{0,39}", "an espeak-ng voice name"),
        "rate": _number(int, 80, 450),
        "timeout_s": _number(float, 1, 30),
    },
    ("tts", "deepgram"): {"transport": _choice("ws", "rest")},
    ("tts", "elevenlabs"): {"voice_id": _word(r"[A-Za-z0-9]{1,64}", "an ElevenLabs voice id")},
    ("tts", "simulated"): {
        **_SIMULATED_COMMON,
        "ms_per_char": _number(float, 0, 1000),
        "chunk_ms": _number(float, 10, 1000),
        "realtime": _flag,
        "first_byte_ms": _LATENCY,
        "first_byte_jitter_ms": _LATENCY,
    },
}


def check_options(stage: str, provider: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options, each checked and normalised; ValueError names the first that is not allowed."""
    allowed = ALLOWED.get((stage, provider))
    if allowed is None:
        raise ValueError(f"no {stage} provider {provider!r}")
    out: dict[str, Any] = {}
    for name, value in options.items():
        check = allowed.get(name)
        if check is None:
            known = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"option {name!r} is not one {provider} takes (it takes: {known})")
        try:
            out[name] = check(value)
        except ValueError as exc:
            raise ValueError(f"option {name!r} {exc}") from None
    return out


def allowed_options(stage: str, provider: str, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """For agents stored before the check: the options that pass, and the names of those dropped."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in options.items():
        try:
            kept.update(check_options(stage, provider, {name: value}))
        except ValueError:
            dropped.append(name)
    return kept, dropped
