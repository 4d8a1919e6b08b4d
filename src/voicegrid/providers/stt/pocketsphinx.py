"""pocketsphinx as the embedded STT, with a domain language model built from the agent's own phrases.

A small trigram model over what callers of this agent are likely to say (the FAQ questions and
keywords, the greeting, common replies), plus a dictionary cut down to its words, loads in ~15 ms and
recognises those phrases far better than the general English model (which also takes ~3 s to load).
The model is 16 kHz; narrowband calls are upsampled. Decoding runs in the bounded local executor, in
200 ms steps while the caller speaks; `finalize()` ends the utterance and yields the final text.

Options: `phrases` (list of sentences), `model_dir` (where built models are cached).
"""

import hashlib
import io
import os
import re
import tempfile
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from voicegrid.media.resample import Resampler
from voicegrid.providers.base import Usage
from voicegrid.providers.errors import ProviderConnectError
from voicegrid.providers.local import run_local
from voicegrid.providers.stt.base import Stt, SttStream, Transcript

MODEL_RATE = 16000
STEP_S = 0.2
PREROLL_FRAMES = 15  # 300 ms of 20 ms frames kept before speech starts
START_RMS = 250.0
MAX_UTTERANCE_S = 30.0
COMMON = [
    "yes", "no", "hello", "hi", "thank you", "thank you bye", "thanks bye", "goodbye", "bye",
    "okay", "sorry", "can you repeat that", "i have a question",
]  # fmt: skip
WORD = re.compile(r"[a-z']+")


@lru_cache(maxsize=1)
def _pronunciations() -> dict[str, list[str]]:
    from pocketsphinx import get_model_path

    table: dict[str, list[str]] = {}
    with open(os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict"), encoding="utf-8") as f:
        for line in f:
            head = line.split(" ", 1)[0]
            table.setdefault(head.split("(")[0], []).append(line)
    return table


def build_domain_model(phrases: list[str], model_dir: Path) -> tuple[Path, Path]:
    """An ARPA trigram model and a dictionary for `phrases` (cached by content); blocking."""
    from pocketsphinx.lm import ArpaBoLM

    table = _pronunciations()
    sentences = []
    for phrase in [*phrases, *COMMON]:
        kept = [w for w in WORD.findall(phrase.lower()) if w in table]
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
    def __init__(self, provider: str, sample_rate: int, usage: Usage, decoder: Any) -> None:
        super().__init__(provider, sample_rate, usage)
        self.decoder = decoder
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._pending: list[bytes] = []
        self._in_utterance = False
        self._utterance_s = 0.0
        self._resampler = Resampler(sample_rate, MODEL_RATE, "HQ")

    def _upsample(self, chunks: list[bytes], last: bool = False) -> bytes:
        pcm = np.frombuffer(b"".join(chunks), dtype=np.int16)
        return self._resampler.process(pcm, last=last).tobytes()

    async def _send(self, pcm: bytes) -> None:
        if not self._in_utterance:
            samples = np.frombuffer(pcm, dtype=np.int16)
            loud = len(samples) and float(np.sqrt(np.mean(samples.astype(np.float32) ** 2))) > START_RMS
            self._preroll.append(pcm)
            if not loud:
                return
            self._in_utterance = True
            self._pending = list(self._preroll)
            self._preroll.clear()
            self._utterance_s = 0.0
            await run_local(self.decoder.start_utt)
        else:
            self._pending.append(pcm)
        pending_s = sum(len(c) for c in self._pending) / 2 / self.sample_rate
        if pending_s >= STEP_S:
            await self._decode(final=False)
        if self._utterance_s > MAX_UTTERANCE_S:
            await self._finalize()

    async def _decode(self, final: bool) -> None:
        audio = self._upsample(self._pending, last=final)
        self._utterance_s += len(audio) / 2 / MODEL_RATE
        self._pending = []

        def step() -> str:
            self.decoder.process_raw(audio, False, False)
            if final:
                self.decoder.end_utt()
            hyp = self.decoder.hyp()
            return str(hyp.hypstr) if hyp is not None else ""

        text = await run_local(step)
        if final:
            self.emit(Transcript(text, True, True, provider=self.provider))
        elif text:
            self.emit(Transcript(text, False, provider=self.provider))

    async def _finalize(self) -> None:
        if not self._in_utterance:
            return
        self._in_utterance = False
        await self._decode(final=True)
        self._resampler = Resampler(self.sample_rate, MODEL_RATE, "HQ")

    async def _close(self) -> None:
        self.end()
