"""Provider names to factories, per stage; `build_*` wraps an agent's ordered list in failover.

Factories import their client on first use, so importing the registry loads no vendor library, and a
node starts without the clients its agents do not use. `load()` imports the clients wanted (and loads
the embedded STT's engine and dictionary) in a thread, once per process: at a node's start for the
stored agents, before it serves, and for a later agent before its first call's session is built.
Loading holds the GIL for a while (the embedded STT about half a second): it stalls the media of
the calls under way once per node and provider, which is why a node does it before serving.
"""

import asyncio
import importlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.errors import ProviderConnectError
from voicegrid.providers.llm.base import FallbackLlm, Llm, LlmStage
from voicegrid.providers.stt.base import ErrorSink, FallbackStt, Stt, SttStage
from voicegrid.providers.tts.base import FallbackTts, Tts, TtsStage

T = TypeVar("T")
log = logging.getLogger(__name__)
# (stage, provider) -> the module of its client; a module's `warm_up()`, if any, runs once it is imported
CLIENTS = {
    ("stt", "pocketsphinx"): "voicegrid.providers.stt.pocketsphinx",
    ("stt", "deepgram"): "voicegrid.providers.stt.deepgram",
    ("llm", "openai"): "voicegrid.providers.llm.openai",
    ("llm", "llama-cpp"): "voicegrid.providers.llm.openai",
    ("tts", "espeak-ng"): "voicegrid.providers.tts.espeak",
    ("tts", "deepgram"): "voicegrid.providers.tts.deepgram",
    ("tts", "elevenlabs"): "voicegrid.providers.tts.elevenlabs",
}
_loaded: set[str] = set()  # modules imported and warmed (or found missing: the factory then fails over)
_lock = threading.Lock()


def _load(modules: list[str]) -> None:
    with _lock:  # calls that need the same client wait for one import, not a second
        for module in modules:
            if module in _loaded:
                continue
            try:
                warm = getattr(importlib.import_module(module), "warm_up", None)
                if warm is not None:
                    warm()
            except ImportError as exc:
                log.warning("provider client %s is not importable: %s", module, exc)
            _loaded.add(module)


async def load(wanted: Iterable[tuple[str, str]]) -> None:
    """Make the clients of these (stage, provider) pairs ready, off the event loop (a no-op once they are)."""
    missing = sorted({CLIENTS[pair] for pair in wanted if pair in CLIENTS} - _loaded)
    if missing:
        await asyncio.to_thread(_load, missing)


def loaded() -> frozenset[str]:
    return frozenset(_loaded)


def _stt(name: str) -> Callable[[ProviderConfig], Stt]:
    def make(config: ProviderConfig) -> Stt:
        if name == "pocketsphinx":
            from voicegrid.providers.stt.pocketsphinx import PocketsphinxStt

            return PocketsphinxStt(config)
        if name == "deepgram":
            from voicegrid.providers.stt.deepgram import DeepgramStt

            return DeepgramStt(config)
        from voicegrid.providers.stt.simulated import SimulatedStt

        return SimulatedStt(config)

    return make


def _llm(name: str) -> Callable[[ProviderConfig], Llm]:
    def make(config: ProviderConfig) -> Llm:
        if name == "knowledge-base":
            from voicegrid.providers.llm.knowledge_base import KnowledgeBaseLlm

            return KnowledgeBaseLlm(config)
        if name in ("openai", "llama-cpp"):
            from voicegrid.providers.llm.openai import OpenAiLlm

            return OpenAiLlm(config)
        from voicegrid.providers.llm.simulated import SimulatedLlm

        return SimulatedLlm(config)

    return make


def _tts(name: str) -> Callable[[ProviderConfig], Tts]:
    def make(config: ProviderConfig) -> Tts:
        if name == "espeak-ng":
            from voicegrid.providers.tts.espeak import EspeakTts

            return EspeakTts(config)
        if name == "deepgram":
            from voicegrid.providers.tts.deepgram import AuraTts

            return AuraTts(config)
        if name == "elevenlabs":
            from voicegrid.providers.tts.elevenlabs import ElevenLabsTts

            return ElevenLabsTts(config)
        from voicegrid.providers.tts.simulated import SimulatedTts

        return SimulatedTts(config)

    return make


STT: dict[str, Callable[[ProviderConfig], Stt]] = {
    n: _stt(n) for n in ("pocketsphinx", "deepgram", "simulated")
}
LLM: dict[str, Callable[[ProviderConfig], Llm]] = {
    n: _llm(n) for n in ("knowledge-base", "openai", "llama-cpp", "simulated")
}
TTS: dict[str, Callable[[ProviderConfig], Tts]] = {
    n: _tts(n) for n in ("espeak-ng", "deepgram", "elevenlabs", "simulated")
}


def _pick(table: Mapping[str, Callable[[ProviderConfig], T]], stage: str, config: ProviderConfig) -> T:
    factory = table.get(config.provider)
    if factory is None:
        raise ProviderConnectError(config.provider, f"no {stage} provider of that name is installed")
    return factory(config)


def _all(
    table: Mapping[str, Callable[[ProviderConfig], T]],
    stage: str,
    configs: list[ProviderConfig],
    on_error: ErrorSink | None,
) -> list[T]:
    """The providers that exist, in order; an unknown name is reported and skipped."""
    out = []
    for config in configs:
        try:
            out.append(_pick(table, stage, config))
        except ProviderConnectError as exc:
            if on_error is not None:
                on_error(stage, exc)
    if not out:
        raise ProviderConnectError(stage, "none of the configured providers is installed")
    return out


def build_stt(
    configs: list[ProviderConfig],
    on_error: ErrorSink | None = None,
    wrap: Callable[[Stt], SttStage] = lambda stt: stt,
) -> FallbackStt:
    """`wrap` puts each provider's stream behind its account's gate (one slot for the call's length)."""
    return FallbackStt([wrap(p) for p in _all(STT, "stt", configs, on_error)], on_error)


def build_llm(
    configs: list[ProviderConfig],
    on_error: ErrorSink | None = None,
    wrap: Callable[[Llm], LlmStage] = lambda llm: llm,
) -> FallbackLlm:
    """`wrap` lets the caller put each provider behind its account's gate (capacity)."""
    return FallbackLlm([wrap(p) for p in _all(LLM, "llm", configs, on_error)], on_error)


def build_tts(
    configs: list[ProviderConfig],
    on_error: ErrorSink | None = None,
    wrap: Callable[[Tts], TtsStage] = lambda tts: tts,
) -> FallbackTts:
    return FallbackTts([wrap(p) for p in _all(TTS, "tts", configs, on_error)], on_error)
