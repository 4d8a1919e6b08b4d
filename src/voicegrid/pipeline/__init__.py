"""The voice pipeline: `VoiceSession` listens (VAD, streaming STT), thinks (LLM, tools) and talks (TTS).

Public surface: `VoiceSession`, `VoiceConfig`, `ToolRunner`, the typed events in `events`.
"""

from voicegrid.pipeline.config import VoiceConfig
from voicegrid.pipeline.session import VoiceSession
from voicegrid.pipeline.tools import ToolRunner

__all__ = ["ToolRunner", "VoiceConfig", "VoiceSession"]
