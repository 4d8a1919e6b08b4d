"""The agent the benchmarks put on the emulators: Deepgram Nova-3, gpt-4o-mini and Aura-2, each through
a stored credential whose base URL is an emulator's."""

from typing import Any


def credential_body(provider: str, base_url: str) -> dict[str, str]:
    return {
        "name": f"emulated {provider} {base_url}",
        "provider": provider,
        "secret": "test-key",
        "base_url": base_url,
    }


def emulated_agent(name: str, stt: str, llm: str, tts: str, **extra: Any) -> dict[str, Any]:
    """An agent body for POST /v1/agents, given the three credentials' ids."""
    return {
        "name": name,
        "greeting": "Hello, how can I help?",
        "system_prompt": "Answer in one short sentence.",
        "stt": {"provider": "deepgram", "model": "nova-3", "credential_id": stt},
        "llm": {"provider": "openai", "model": "gpt-4o-mini", "credential_id": llm},
        "tts": {"provider": "deepgram", "model": "aura-2-thalia-en", "credential_id": tts},
        **extra,
    }
