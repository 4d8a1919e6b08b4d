"""pocketsphinx as the embedded STT, with a domain language model built from the agent's own phrases.

A small trigram model over what callers of this agent are likely to say (the FAQ questions and
keywords, the greeting, common replies), plus a dictionary cut down to its words, loads in ~15 ms and
recognises those phrases far better than the general English model (which also takes ~3 s to load).
The model is 16 kHz; narrowband calls are upsampled. Decoding runs in the bounded local executor, once
per utterance, when `finalize()` ends it.

Options: `phrases` (list of sentences), `model_dir` (where built models are cached).
"""

import hashlib
import io
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from voicegrid.media.session import rms
from voicegrid.providers.base import Usage
from voicegrid.providers.errors import ProviderClosed, ProviderConnectError
from voicegrid.providers.local import run_local
from voicegrid.providers.stt.base import Stt, SttStream, Transcript

MODEL_RATE = 16000
PREROLL_S = 0.3  # audio kept from before the first loud frame
FRAME_S = 0.02  # loudness is judged per 20 ms, however large the chunks the session sends
START_RMS = 250.0
MAX_UTTERANCE_S = 30.0
COMMON = [
    "yes", "no", "hello", "hi", "thank you", "thank you bye", "thanks bye", "goodbye", "bye",
    "okay", "sorry", "can you repeat that", "i have a question",
]  # fmt: skip
WORD = re.compile(r"[a-z']+")


_loaded: dict[str, list[str]] | None = None
_loading = threading.Lock()


def _pronunciations() -> dict[str, list[str]]:
    """CMUdict by word, read once per process (0.2 s of CPU): the calls that arrive while it is read
    wait for that one reading instead of each reading it again, holding the GIL between them."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _loading:
        if _loaded is None:
            from pocketsphinx import get_model_path

            table: dict[str, list[str]] = {}
            path = os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict")
            with open(path, encoding="utf-8") as f:
                for line in f:
                    head = line.split(" ", 1)[0]
                    table.setdefault(head.split("(")[0], []).append(line)
            _loaded = table
        return _loaded


def warm_up() -> None:
    """Import the engine and read its dictionary now (blocking; about 0.45 s, once per process), so
    that the first calls of a node do not: at their start they would, with the GIL held, delay the
    media and the greetings of every call under way (1.2 s after the hello against 0.74 s, more on a
    busy machine)."""
    from pocketsphinx import Decoder  # noqa: F401
    from pocketsphinx.lm import ArpaBoLM  # noqa: F401

    _pronunciations()


ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER = re.compile(r"\d+")


def number_words(n: int) -> str:
    """0-999 as spoken English words (what a TTS says for the digits); larger numbers digit by digit."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    return " ".join(ONES[int(d)] for d in str(n))


def spell_numbers(text: str) -> str:
    return NUMBER.sub(lambda m: " " + number_words(int(m.group())) + " ", text)


def build_domain_model(phrases: list[str], model_dir: Path) -> tuple[Path, Path]:
    """An ARPA trigram model and a dictionary for `phrases` (cached by content); blocking."""
    from pocketsphinx.lm import ArpaBoLM

    table = _pronunciations()
    sentences = []
    for phrase in [*phrases, *COMMON]:
        kept = [w for w in WORD.findall(spell_numbers(phrase).lower()) if w in table]
        if kept:
            sentences.append(" ".join(kept))
    text = "\n".join(sorted(set(sentences))) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    lm_path, dict_path = model_dir / f"{digest}.arpa", model_dir / f"{digest}.dict"
    if lm_path.exists() and dict_path.exists():
        return lm_path, dict_path
    model_dir.mkdir(parents=True, exist_ok=True)
    lm = ArpaBoLM(text=text, add_start=True, case="lower")
    lm.compute()
    buf = io.StringIO()
    lm.write(buf)
    vocabulary = sorted({w for s in sentences for w in s.split()})
    for path, content in (
        (lm_path, buf.getvalue()),
        (dict_path, "".join(p for w in vocabulary for p in table[w])),
    ):
        with tempfile.NamedTemporaryFile("w", dir=model_dir, delete=False, encoding="utf-8") as tmp:
            tmp.write(content)
        os.replace(tmp.name, path)
    return lm_path, dict_path


def agent_phrases(knowledge_base: dict[str, Any], greeting: str = "") -> list[str]:
    """What callers of an agent may say: its FAQ questions and keywords, and its greeting's words."""
    phrases = [greeting] if greeting else []
    for entry in knowledge_base.get("faq", []):
        phrases.append(str(entry.get("question", "")))
        phrases.extend(str(k) for k in entry.get("keywords", []))
    phrases.extend(str(p) for p in knowledge_base.get("phrases", []))
    return [p for p in phrases if p]


def _decoder(lm_path: Path | None, dict_path: Path | None) -> Any:
    from pocketsphinx import Config, Decoder

    if lm_path is None or dict_path is None:
        return Decoder(Config(loglevel="ERROR"))
    return Decoder(Config(lm=str(lm_path), dict=str(dict_path), loglevel="ERROR"))


class PocketsphinxStt(Stt):
    name = "pocketsphinx"

    async def _open(self, sample_rate: int, language: str, usage: Usage) -> SttStream:
        if not language.lower().startswith("en"):
            raise ProviderConnectError(self.name, f"the embedded model speaks English, not {language}")
        phrases = list(self.config.option("phrases", []))
        model_dir = Path(self.config.option("model_dir") or Path(tempfile.gettempdir()) / "voicegrid-lm")

        def load() -> Any:
            if not phrases:
                return _decoder(None, None)
            return _decoder(*build_domain_model(phrases, model_dir))

        try:
            decoder = await run_local(load)
        except (RuntimeError, OSError) as exc:
            raise ProviderConnectError(self.name, f"could not load the model: {exc}") from exc
        return PocketsphinxStream(self.name, sample_rate, usage, decoder)


class PocketsphinxStream(SttStream):
    """Buffers each utterance (from its first loud frame, with 300 ms before it) and decodes it whole
    on `finalize()`: with the utterance's own cepstral mean (`full_utt`), recognition is far better
    than decoding live, for ~40 ms of decoding per second of speech."""

    def __init__(self, provider: str, sample_rate: int, usage: Usage, decoder: Any) -> None:
        super().__init__(provider, sample_rate, usage)
        self.decoder = decoder
        self._preroll = bytearray()  # the last PREROLL_S of quiet audio
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    async def _send(self, pcm: bytes) -> None:
        if not self._pending:
            self._start_on_loud(pcm[: len(pcm) // 2 * 2])
            return
        if self._pending_bytes < MAX_UTTERANCE_S * self.sample_rate * 2:
            self._pending.append(pcm)
            self._pending_bytes += len(pcm)

    def _start_on_loud(self, pcm: bytes) -> None:
        """Begin an utterance at the first loud 20 ms frame of `pcm`, with PREROLL_S of audio before it."""
        samples = np.frombuffer(pcm, dtype=np.int16)
        step = max(1, int(self.sample_rate * FRAME_S))
        loud = next((i for i in range(0, len(samples), step) if rms(samples[i : i + step]) > START_RMS), None)
        keep = int(self.sample_rate * PREROLL_S) * 2
        if loud is None:
            self._preroll.extend(pcm)
            del self._preroll[:-keep]
            return
        before = bytes(self._preroll) + pcm[: loud * 2]
        self._pending = [before[-keep:], pcm[loud * 2 :]]
        self._pending_bytes = sum(len(c) for c in self._pending)
        self._preroll.clear()

    async def _finalize(self) -> None:
        if not self._pending:
            return
        end = self.sent_s  # the utterance is all the audio sent so far
        pcm = np.frombuffer(b"".join(self._pending), dtype=np.int16)
        self._pending, self._pending_bytes = [], 0
        rate = self.sample_rate

        def decode() -> str:
            audio = pcm if rate == MODEL_RATE else np.asarray(soxr.resample(pcm, rate, MODEL_RATE, "HQ"))
            self.decoder.start_utt()
            if len(audio):  # pocketsphinx rejects an empty buffer
                self.decoder.process_raw(audio.astype(np.int16).tobytes(), False, True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            return str(hyp.hypstr) if hyp is not None else ""

        try:
            text = await run_local(decode)
        except (RuntimeError, ValueError, IndexError) as exc:  # the engine's own failures
            raise ProviderClosed(self.provider, f"decoder failed: {exc}") from exc
        self.emit(Transcript(text, True, True, provider=self.provider, audio_end_s=end))

    async def _close(self) -> None:
        self.end()
