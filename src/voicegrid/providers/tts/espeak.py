"""espeak-ng as the embedded TTS: a subprocess per sentence (GPL-3 stays behind a process boundary).

Options: `voice` (an espeak-ng voice, default from the agent's language), `rate` (words per minute,
default 165), `timeout_s`. The text is written to espeak-ng's stdin (`--stdin`), so no text, however it
starts, is ever read as an option. The WAV espeak-ng writes to a pipe carries no real length, so the parser
reads the `fmt ` and `data` chunks and takes the rest of the output as samples.
"""

import asyncio
import re
import shutil
import struct
from collections.abc import AsyncGenerator

import numpy as np
import soxr

from voicegrid.media.session import Pcm
from voicegrid.providers.base import Usage
from voicegrid.providers.errors import ProviderConnectError, ProviderProtocolError, ProviderTimeout
from voicegrid.providers.tts.base import Tts

MAX_TEXT = 2000
VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+\-]{0,39}")
MAX_WAV_BYTES = 20 * 1024 * 1024


def parse_wav(data: bytes) -> tuple[int, Pcm]:
    """Sample rate and PCM16 mono samples of a RIFF/WAVE byte string whose sizes may be wrong."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE stream")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if kind == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("short fmt chunk")
            fmt, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if fmt != 1 or channels != 1 or bits != 16:
                raise ValueError("only PCM16 mono is read")
        elif kind == b"data":
            if rate is None:
                raise ValueError("data before fmt")
            samples = data[body : body + min(size, len(data) - body)]
            samples = samples[: len(samples) // 2 * 2]
            return rate, np.frombuffer(samples, dtype="<i2").astype(np.int16)
        pos = body + size + (size & 1)
    raise ValueError("no data chunk")


def espeak_voice(language: str) -> str:
    lang = language.lower()
    return {"en": "en-us", "en-us": "en-us", "en-gb": "en-gb"}.get(lang, lang.split("-")[0] or "en-us")


class EspeakTts(Tts):
    name = "espeak-ng"

    async def _synthesize(self, text: str, sample_rate: int, usage: Usage) -> AsyncGenerator[Pcm, None]:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise ProviderConnectError(self.name, "espeak-ng is not installed (apt-get install espeak-ng)")
        voice = str(self.config.option("voice") or espeak_voice(str(self.config.option("language", "en-US"))))
        if not VOICE.fullmatch(voice):
            voice = "en-us"  # a name that could be read as an option never reaches the command line
        rate = str(int(self.config.option("rate", 165)))
        # The text goes on stdin, never on the command line: whatever it says, it is only spoken.
        spoken = text[:MAX_TEXT].replace("\n", " ").encode("utf-8", errors="replace") + b"\n"
        proc = await asyncio.create_subprocess_exec(
            binary,
            "-v",
            voice,
            "-s",
            rate,
            "--stdout",
            "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(float(self.config.option("timeout_s", 10.0))):
                out, err = await proc.communicate(spoken)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise ProviderTimeout(self.name, "espeak-ng took too long") from exc
        if proc.returncode != 0 or len(out) > MAX_WAV_BYTES:
            raise ProviderProtocolError(self.name, f"espeak-ng failed: {err.decode(errors='replace')[:200]}")
        try:
            rate_hz, pcm = parse_wav(out)
        except ValueError as exc:
            raise ProviderProtocolError(self.name, f"unreadable espeak-ng output: {exc}") from exc
        if rate_hz != sample_rate and len(pcm):
            pcm = np.asarray(soxr.resample(pcm, rate_hz, sample_rate, quality="HQ")).astype(np.int16)
        step = sample_rate // 5
        for i in range(0, len(pcm), step):
            yield pcm[i : i + step]
