"""Answering-machine detection, sans-I/O: fed the first audio of an answered outbound call, one
frame at a time, it decides whether a person or a machine answered, and (for a voicemail drop) when
the machine is ready to record: its beep has ended, or its greeting has.

Time is the audio's own: each frame fed is its length later than the one before, so a test or a
benchmark runs seconds of a call in a moment, and the decision's time is exact.

How it decides (the pattern of speech and silence, a beep, and the words when an STT has them):

- a person answers with a short "hello?" and waits: speech of at most `greeting_ms`, then
  `after_greeting_silence_ms` of quiet -> `human`;
- a machine's greeting talks on: speech (with pauses shorter than `after_greeting_silence_ms`)
  longer than `greeting_ms` -> `machine`; so do `max_words` words or more before a pause;
- a pure tone held `beep_min_ms` (a voicemail's beep) -> `machine`;
- words a greeting says ("leave a message", "after the tone", ...), from `heard` -> `machine`;
- nobody speaks within `initial_silence_ms`, or nothing is clear within `total_ms` -> `unknown`
  (the agent then talks as to a person: a silent person must not be hung up on).

After `machine`, `feed` goes on (when the caller waits for the beep) and returns `Ready` once the beep
has ended, or the greeting has been followed by `end_silence_ms` of quiet (a machine with no beep),
or `beep_wait_ms` have passed.
"""

from dataclasses import dataclass
from enum import Enum

import numpy as np

from voicegrid.media.errors import CodecError
from voicegrid.media.session import Pcm, rms
from voicegrid.media.vad import VoiceDetector

MACHINE_PHRASES = (
    "leave a message", "leave your message", "after the tone", "after the beep", "at the tone",
    "not available", "unavailable", "voicemail", "voice mail", "mailbox", "can't take your call",
    "cannot take your call", "can't come to the phone", "record your message", "leave your name",
)  # fmt: skip


SPEECH_OVER_NOISE_DB = 9.0
SPEECH_OVER_NOISE = 10 ** (SPEECH_OVER_NOISE_DB / 20)


class Verdict(Enum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AmdSettings:
    initial_silence_ms: float = 2500.0
    greeting_ms: float = 2300.0
    after_greeting_silence_ms: float = 700.0
    total_ms: float = 5000.0
    word_min_ms: float = 100.0
    word_gap_ms: float = 100.0  # quiet that ends a word
    max_words: int = 7
    beep_min_ms: float = 160.0
    beep_purity: float = 0.7  # share of a frame's energy in the tone's narrow band
    end_silence_ms: float = 1500.0  # no beep: the greeting ended this long ago
    beep_wait_ms: float = 20000.0


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str
    after_ms: float  # from the answer
    speech_ended_ms: float | None = None  # a person's hello ended here (the agent answers after it)


@dataclass(frozen=True, slots=True)
class Ready:
    """The machine records now: speak the message."""

    reason: str  # "beep", "silence", "timeout"
    after_ms: float
    beep_hz: float | None = None


class BeepDetector:
    """A pure tone (one narrow band holding most of the energy, at a steady pitch) across frames."""

    def __init__(self, sample_rate: int, purity: float, min_dbfs: float = -40.0) -> None:
        self.sample_rate, self.purity = sample_rate, purity
        self.min_rms = 32768 * 10 ** (min_dbfs / 20)
        self.run_ms = 0.0  # the current tone's length
        self.pitch: float | None = None
        self.gap_ms = 0.0
        self.bridge_ms = 40.0

    def tone(self, pcm: Pcm) -> float | None:
        """The frame's tone frequency, or None when it is not one."""
        if len(pcm) < 64 or rms(pcm) < self.min_rms:
            return None
        samples = pcm.astype(np.float64) * np.hanning(len(pcm))
        size = 1 << max(9, (len(pcm) - 1).bit_length())
        power = np.abs(np.fft.rfft(samples, size)) ** 2
        hz = np.fft.rfftfreq(size, 1 / self.sample_rate)
        heard = (hz >= 80) & (hz <= min(3400, self.sample_rate / 2 - 100))
        total = float(power[heard].sum())
        if total <= 0:
            return None
        # beeps sit at 500-2500 Hz; a voice's own pitch (80-400 Hz) counts against the tone's purity
        peak = int(np.argmax(np.where((hz >= 500) & (hz <= 2500), power, 0)))
        width = max(2, round(60 / (hz[1] - hz[0])))  # +-60 Hz: the window's main lobe
        narrow = float(power[max(0, peak - width) : peak + width + 1].sum())
        return float(hz[peak]) if narrow / total >= self.purity else None

    def feed(self, pcm: Pcm, frame_ms: float) -> bool:
        """Whether a tone goes on through this frame (at the same pitch as the frames before). A gap
        of up to `bridge_ms` (a lost packet or two) does not end it."""
        pitch = self.tone(pcm)
        if pitch is not None and (self.pitch is None or abs(pitch - self.pitch) <= 40):
            self.pitch = pitch if self.pitch is None else self.pitch
            self.run_ms += frame_ms
            self.gap_ms = 0.0
            return True
        if pitch is None and self.run_ms and self.gap_ms + frame_ms <= self.bridge_ms:
            self.gap_ms += frame_ms
            return True
        self.run_ms, self.pitch = (frame_ms, pitch) if pitch is not None else (0.0, None)
        self.gap_ms = 0.0
        return pitch is not None


class AnsweringMachineDetector:
    def __init__(
        self, sample_rate: int = 8000, settings: AmdSettings | None = None, *, wait_for_beep: bool = False
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise CodecError(f"answering-machine detection takes 8 or 16 kHz, not {sample_rate}")
        self.settings = settings or AmdSettings()
        self.wait_for_beep = wait_for_beep
        self.vad = VoiceDetector(sample_rate, aggressiveness=2)
        self.beeps = BeepDetector(sample_rate, self.settings.beep_purity)
        self.now_ms = 0.0
        self.decision: Decision | None = None
        self.ready: Ready | None = None
        self._spoke_at: float | None = None  # the first speech
        self._utterance_ms = 0.0  # speech since the utterance began, pauses under the limit included
        self._silence_ms = 0.0  # quiet since the last voiced frame
        self._word_ms = 0.0
        self._words = 0
        self._speech_end_ms: float | None = None
        self._beep: tuple[float, float] | None = None  # (pitch, when it ended) once heard
        self._beep_heard_ms = 0.0
        self._floor: float | None = None  # the line's noise level (rms)

    def heard(self, text: str) -> Decision | None:
        """The STT's words from the answer so far: a voicemail greeting's phrases decide `machine`."""
        if self.decision is not None:
            return None
        said = " ".join(text.lower().replace("\u2019", "'").split())  # a typographic apostrophe too
        phrase = next((p for p in MACHINE_PHRASES if p in said), None)
        if phrase is None:
            return None
        return self._decide(Verdict.MACHINE, f"words: {phrase!r}")

    def feed(self, pcm: Pcm, heard: bool = True) -> Decision | Ready | None:
        """Judge one frame: the decision when it is made, `Ready` when the machine records, else None.

        A frame not `heard` (loss concealment: the stream stalled) is neither speech nor quiet: a
        stall inside a person's "hello?" must not pass for the quiet after it, nor a stall inside a
        greeting for its end. Time still passes, so the time limits hold."""
        frame_ms = len(pcm) * 1000 / self.vad.sample_rate
        self.now_ms += frame_ms
        if not heard:
            return self._out_of_time()
        tone = self.beeps.feed(pcm, frame_ms)
        if self.decision is None:
            return self._detect(pcm, frame_ms, tone)
        if self.wait_for_beep and self.decision.verdict is Verdict.MACHINE and self.ready is None:
            return self._await_beep(pcm, frame_ms, tone)
        return None

    def _out_of_time(self) -> Decision | Ready | None:
        """The time limits, heard frames or not: nobody spoke, nothing clear, no beep came."""
        s = self.settings
        if self.decision is None:
            if self._spoke_at is None and self.now_ms >= s.initial_silence_ms:
                return self._decide(Verdict.UNKNOWN, "nobody spoke")
            if self.now_ms >= s.total_ms:
                return self._decide(Verdict.UNKNOWN, "nothing clear in time")
            return None
        waiting = self.wait_for_beep and self.decision.verdict is Verdict.MACHINE and self.ready is None
        if waiting and self.now_ms - self.decision_ms >= s.beep_wait_ms:
            return self._ready("timeout")
        return None

    def _voiced(self, pcm: Pcm) -> bool:
        """Speech: webrtcvad says so, and the frame stands `SPEECH_OVER_NOISE_DB` above the line's
        noise floor (tracked down at once, up slowly; a lost packet's zeros are not noise)."""
        level = rms(pcm)
        if level > 0:
            floor = self._floor
            self._floor = level if floor is None or level < floor else floor + (level - floor) * 0.01
        if self._floor is not None and level < self._floor * SPEECH_OVER_NOISE:
            return False
        return self.vad.is_voiced(pcm)

    def _decide(self, verdict: Verdict, reason: str, speech_ended_ms: float | None = None) -> Decision:
        self.decision = Decision(verdict, reason, round(self.now_ms, 1), speech_ended_ms)
        return self.decision

    def _detect(self, pcm: Pcm, frame_ms: float, tone: bool) -> Decision | None:
        s = self.settings
        if tone and self.beeps.run_ms >= s.beep_min_ms:
            return self._decide(Verdict.MACHINE, f"beep at {self.beeps.pitch:.0f} Hz")
        voiced = self._voiced(pcm) and not tone
        if voiced:
            if self._spoke_at is None:
                self._spoke_at = self.now_ms - frame_ms
            elif self._silence_ms >= s.word_gap_ms and self._word_ms >= s.word_min_ms:
                self._words += 1  # a pause closed the word before this one
                self._word_ms = 0.0
            if self._utterance_ms:
                self._utterance_ms += self._silence_ms  # a short pause inside the greeting
            self._utterance_ms += frame_ms
            self._word_ms += frame_ms
            self._silence_ms = 0.0
            if self._utterance_ms >= s.greeting_ms:
                return self._decide(Verdict.MACHINE, f"greeting longer than {s.greeting_ms:.0f} ms")
            if self._words + 1 >= s.max_words and self._word_ms >= s.word_min_ms:
                return self._decide(Verdict.MACHINE, f"{s.max_words} words without a pause")
        else:
            self._silence_ms += frame_ms
            if self._utterance_ms and self._silence_ms >= s.after_greeting_silence_ms:
                ended = self.now_ms - self._silence_ms
                return self._decide(Verdict.HUMAN, "a short hello, then quiet", round(ended, 1))
        found = self._out_of_time()
        return found if isinstance(found, Decision) else None

    def _await_beep(self, pcm: Pcm, frame_ms: float, tone: bool) -> Ready | None:
        s = self.settings
        if tone:
            self._beep_heard_ms = self.beeps.run_ms
            self._beep = (self.beeps.pitch or 0.0, self.now_ms)
        elif self._beep is not None and self._beep_heard_ms >= s.beep_min_ms:
            return self._ready("beep", self._beep[0])
        voiced = self._voiced(pcm) and not tone
        self._silence_ms = 0.0 if voiced else self._silence_ms + frame_ms
        if self._silence_ms >= s.end_silence_ms:
            return self._ready("silence")
        found = self._out_of_time()
        return found if isinstance(found, Ready) else None

    @property
    def decision_ms(self) -> float:
        return self.decision.after_ms if self.decision is not None else 0.0

    def _ready(self, reason: str, beep_hz: float | None = None) -> Ready:
        self.ready = Ready(reason, round(self.now_ms, 1), round(beep_hz, 1) if beep_hz else None)
        return self.ready
