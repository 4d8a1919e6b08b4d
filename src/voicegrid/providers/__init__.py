"""Speech-to-text, LLM and text-to-speech providers: one interface per stage, one registry.

Public surface: `ProviderConfig`, `Meter`, `ProviderError` and its kinds, `registry.build_stt`,
`build_llm`, `build_tts`. Cloud clients, local engines and simulated providers live in `stt/`, `llm/`
and `tts/`.
"""

from voicegrid.providers.base import Meter, ProviderConfig, Usage
from voicegrid.providers.errors import (
    ProviderAuthError,
    ProviderClosed,
    ProviderConnectError,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)

__all__ = [
    "Meter",
    "ProviderAuthError",
    "ProviderClosed",
    "ProviderConfig",
    "ProviderConnectError",
    "ProviderError",
    "ProviderProtocolError",
    "ProviderRateLimited",
    "ProviderServerError",
    "ProviderTimeout",
    "Usage",
]
