"""A simulated STT for load tests and turn-taking tests: scripted transcripts, sampled latency.

Options: `transcripts` (said in order, one per utterance), `final_ms` / `final_jitter_ms` (from
`finalize()` to the final transcript), `endpointing_ms` (finalize by itself after this much quiet
following speech, as a cloud STT's own endpointing does), `interim` (send a partial transcript after
300 ms of speech),
`fail` ("connect", "auth" or "midstream": fault injection for failover tests), `seed`.
"""

import asyncio
import random

import numpy as np

from voicegrid.media.session import rms
from voicegrid.providers.base import ProviderConfig, Usage, sample_latency_s
from voicegrid.providers.errors import ProviderAuthError, ProviderClosed, ProviderConnectError
from voicegrid.providers.stt.base import Stt, SttStream, Transcript

VOICED_RMS = 300.0


class SimulatedStt(Stt):
    name = "simulated"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._script = list(self.config.option("transcripts", []))
        self._rng = random.Random(self.config.option("seed", 1))

    def next_line(self) -> str:
        return self._script.pop(0) if self._script else ""

    async def _open(self, sample_rate: int, language: str, usage: Usage) -> SttStream:
        fail = self.config.option("fail")
        if fail == "connect":
            raise ProviderConnectError(self.name, "connection refused (simulated)")
        if fail == "auth":
            raise ProviderAuthError(self.name, "invalid credentials (simulated)", status=401)
        return SimulatedSttStream(self, sample_rate, usage)


class SimulatedSttStream(SttStream):
    def __init__(self, owner: SimulatedStt, sample_rate: int, usage: Usage) -> None:
        super().__init__(owner.name, sample_rate, usage)
        self.owner = owner
        self.voiced_s = 0.0
        self.quiet_s = 0.0  # since the last voiced audio
        self._interim_sent = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def _send(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm, dtype=np.int16)
        seconds = len(samples) / self.sample_rate
        if rms(samples) > VOICED_RMS:
            self.voiced_s += seconds
            self.quiet_s = 0.0
        elif self.voiced_s:
            self.quiet_s += seconds
            endpointing = self.owner.config.option("endpointing_ms")
            if endpointing is not None and self.quiet_s * 1000 >= float(endpointing):
                await self._finalize()
        if self.owner.config.option("fail") == "midstream" and self.voiced_s > 0.2:
            self.fail(ProviderClosed(self.provider, "connection lost (simulated)"))
            self.closed = True
            return
        if self.owner.config.option("interim") and self.voiced_s >= 0.3 and not self._interim_sent:
            self._interim_sent = True
            upcoming = self.owner._script[0] if self.owner._script else ""
            words = upcoming.split()
            self.emit(Transcript(" ".join(words[: max(1, len(words) // 2)]), False, provider=self.provider))

    async def _finalize(self) -> None:
        if self.voiced_s < 0.1:
            return
        self.voiced_s = 0.0
        self._interim_sent = False
        text = self.owner.next_line()
        delay = sample_latency_s(self.owner.config.options, "final", 150.0, self.owner._rng)
        task = asyncio.get_running_loop().create_task(self._later(delay, text, self.sent_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _later(self, delay: float, text: str, end: float) -> None:
        await asyncio.sleep(delay)
        self.emit(Transcript(text, True, True, provider=self.provider, audio_end_s=end))

    async def _close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.end()
