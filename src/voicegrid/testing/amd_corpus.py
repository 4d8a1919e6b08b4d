"""A labelled set of answered calls for answering-machine detection (`bench/amd.py`, the tests):
people saying short and long hellos, and voicemail greetings of several lengths with and without a
beep, spoken by espeak-ng in several voices and speeds, then put through a telephone line: 8 kHz,
G.711 mu-law, noise at a chosen SNR and lost 20 ms packets.

Each `Answer` knows its truth: who answered, where the speech ended, where the beep ended.
"""

import io
import itertools
import shutil
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soxr

from voicegrid.media.g711 import ulaw_decode, ulaw_encode

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz

SHORT_HELLOS = ["hello?", "hi", "yes?", "hello", "yeah?"]
LONG_HELLOS = ["hello, who is this?", "hi, this is Maria", "good morning, Tom speaking", "yes, hello?"]
GREETINGS = [
    "Hi, it's Ana. Leave a message.",
    "You have reached five five five, zero one three four. Please leave a message.",
    "Hi, you've reached Sam. I can't take your call right now, please leave a message after the tone.",
    "The person you are calling is not available. Please record your message at the tone.",
    "Hello, this is the Baker family. We're out at the moment. Leave your name and number and we will "
    "call you back.",
    "Thank you for calling Riverside Dental. Our office is closed. Please leave a message.",
]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb+m3"]
SPEEDS = [140, 165, 190]
BEEPS: list[tuple[float, float] | None] = [None, (1000.0, 0.5), (850.0, 0.35), (1400.0, 0.25)]


@dataclass(frozen=True, slots=True)
class Answer:
    label: str  # "human" or "machine"
    name: str
    pcm: np.ndarray  # int16 at 8 kHz, as heard on the line
    speech_end_ms: float
    beep_end_ms: float | None = None

    def frames(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self.pcm) - FRAME + 1, FRAME):
            yield self.pcm[start : start + FRAME]


def speak(text: str, voice: str, speed: int) -> np.ndarray:
    """espeak-ng's speech of `text` at 8 kHz, leading and trailing quiet trimmed."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError("espeak-ng is not installed: run `make setup` (Debian package espeak-ng)")
    wav = subprocess.run(
        [binary, "-v", voice, "-s", str(speed), "--stdout", "--", text],
        check=True, capture_output=True, timeout=30,
    ).stdout  # fmt: skip
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        raw = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    pcm = soxr.resample(raw.astype(np.float32), rate, RATE).astype(np.float32)
    loud = np.flatnonzero(np.abs(pcm) > 300)
    trimmed: np.ndarray = pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm
    return trimmed


def tone(hz: float, seconds: float, level: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms edges, as a real beep
    return (level * ramp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def line(signal: np.ndarray, rng: np.random.Generator, snr_db: float, loss: float) -> np.ndarray:
    """Through a telephone line: noise at `snr_db` below the speech, mu-law, lost packets (zeros)."""
    voiced = signal[np.abs(signal) > 300]
    level = float(np.sqrt(np.mean(voiced.astype(np.float64) ** 2))) if len(voiced) else 1000.0
    noisy = signal + rng.normal(0, level / 10 ** (snr_db / 20), len(signal))
    pcm = ulaw_decode(ulaw_encode(np.clip(noisy, -32768, 32767).astype(np.int16)))
    out = np.array(pcm, dtype=np.int16)
    for start in range(0, len(out), FRAME):
        if rng.random() < loss:
            out[start : start + FRAME] = 0
    return out


def corpus(seed: int = 7, snr_db: tuple[float, float] = (15.0, 30.0), loss: float = 0.02) -> Iterator[Answer]:
    """Every person and every greeting, in every voice and speed (beeps taken in turn)."""
    rng = np.random.default_rng(seed)
    beeps = itertools.cycle(BEEPS)
    for text, voice, speed in itertools.product(SHORT_HELLOS + LONG_HELLOS, VOICES, SPEEDS):
        speech = speak(text, voice, speed)
        lead = np.zeros(int(rng.uniform(0.2, 0.8) * RATE), np.float32)
        signal = np.concatenate([lead, speech, np.zeros(4 * RATE, np.float32)])
        end = (len(lead) + len(speech)) * 1000 / RATE
        pcm = line(signal, rng, rng.uniform(*snr_db), loss)
        yield Answer("human", f"{voice}@{speed}: {text}", pcm, end)
    for text, voice, speed in itertools.product(GREETINGS, VOICES, SPEEDS):
        speech = speak(text, voice, speed)
        lead = np.zeros(int(rng.uniform(0.1, 0.6) * RATE), np.float32)
        beep = next(beeps)
        gap = np.zeros(int(0.3 * RATE), np.float32)
        parts = [lead, speech]
        beep_end = None
        if beep is not None:
            parts += [gap, tone(*beep)]
            beep_end = (len(lead) + len(speech) + len(gap)) * 1000 / RATE + beep[1] * 1000
        signal = np.concatenate([*parts, np.zeros(3 * RATE, np.float32)])
        end = (len(lead) + len(speech)) * 1000 / RATE
        pcm = line(signal, rng, rng.uniform(*snr_db), loss)
        beeped = f", beep {beep[0]:.0f} Hz" if beep else ""
        yield Answer("machine", f"{voice}@{speed}: {text[:30]}...{beeped}", pcm, end, beep_end)
