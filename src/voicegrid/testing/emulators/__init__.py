"""Local servers that speak the providers' wire protocols, with scripted output and fault injection.

`DeepgramEmulator` (live STT and Aura-2 TTS), `ElevenLabsEmulator` (multi-context TTS) and
`OpenAiEmulator` (streaming chat completions). Each runs in-process on a loopback port, or as
`voicegrid emulate <name> --port N`. `telnyx.TelnyxMediaStream` plays the other side: Telnyx
opening a media stream to us.
"""

from voicegrid.testing.emulators.base import Emulator, Faults
from voicegrid.testing.emulators.deepgram import DeepgramEmulator
from voicegrid.testing.emulators.elevenlabs import ElevenLabsEmulator
from voicegrid.testing.emulators.openai import OpenAiEmulator

EMULATORS: dict[str, type[Emulator]] = {
    "deepgram": DeepgramEmulator,
    "elevenlabs": ElevenLabsEmulator,
    "openai": OpenAiEmulator,
}

__all__ = ["EMULATORS", "DeepgramEmulator", "ElevenLabsEmulator", "Emulator", "Faults", "OpenAiEmulator"]
