"""A voice agent's turn-taking settings, with the defaults a telephone conversation needs."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    greeting: str = ""
    system_prompt: str = ""
    knowledge_text: str = ""
    language: str = "en-US"
    min_silence_ms: float = 200.0  # VAD quiet that may end the caller's turn
    max_wait_ms: float = 1200.0  # after that quiet, how long to wait for the STT's final transcript
    barge_in_ms: float = 200.0  # voiced audio over the agent that interrupts it
    vad_aggressiveness: int = 2
    stt_chunk_ms: float = 100.0  # caller audio sent to the STT per message (flushed at a turn's end)
    stt_speech_only: bool = False  # the STT hears the caller's speech (with a pre-roll), not the quiet
    early_llm: bool = False  # start the LLM on a stable interim transcript before the final
    reprompt_after_s: float = 8.0
    reprompt_text: str = "Are you still there?"
    max_reprompts: int = 2
    goodbye_text: str = "Goodbye."
    not_heard_text: str = "Sorry, I did not catch that. Could you say it again?"
    trouble_text: str = "Sorry, I am having trouble right now. Please try again in a moment."
    history_messages: int = 30
    max_tool_rounds: int = 3
    metadata: dict[str, Any] = field(default_factory=dict)

    def system_message(self) -> str:
        parts = [self.system_prompt.strip() or "You are a helpful phone agent. Answer briefly."]
        if self.knowledge_text.strip():
            parts.append("Knowledge base:\n" + self.knowledge_text.strip())
        parts.append("You are speaking on the phone: short sentences, no lists, no markdown.")
        return "\n\n".join(parts)
