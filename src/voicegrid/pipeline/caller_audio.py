"""`CallerAudio`: the caller's audio on its way to the STT stream.

Frames are held until a whole chunk of `stt_chunk_ms` is there (Deepgram asks for 20-250 ms a
message): a fifth of the messages, wake-ups and syscalls of one per 20 ms frame. A chunk is queued
for the stream's pump task; `None` in the queue asks the STT to finalize. A slow STT never makes the
queue grow past `MAX_AUDIO_BACKLOG_S`: the oldest chunk is dropped, and `sent_s` (the audio the STT
will have heard, the clock its transcripts' `audio_end_s` are read against) does not count it.

With `speech_only` (an agent's `stt_speech_only`), the STT hears the caller's speech and not the quiet
between: audio is held back (only its last `PRE_ROLL_S` kept) until the local VAD hears speech, and
held back again once the caller has been quiet for `HANGOVER_MS` after it. Deepgram bills the audio
sent, and most of a call's caller audio is quiet (the caller listens while the agent talks); the
stream is held open meanwhile by the client's KeepAlive. The STT's clock (`sent_s`) counts only what
it heard, so the turns' bookkeeping against `audio_end_s` is unchanged.
"""

import asyncio

MAX_AUDIO_BACKLOG_S = 10.0  # audio waiting for a slow STT; older chunks are dropped
PRE_ROLL_S = 0.5  # sent with the start of speech: the VAD starts 60 ms into it, and words begin softly
HANGOVER_MS = 1000.0  # quiet still sent after speech: the STT's own endpointing has to hear it


class CallerAudio:
    def __init__(self, speech_only: bool = False) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.sent_s = 0.0  # seconds of audio queued for the STT, dropped chunks taken off
        self.speech_only = speech_only
        self.holding = speech_only  # held back: the caller is quiet (speech only)
        self._held = bytearray()  # caller audio not yet queued (less than one chunk, or the pre-roll)
        self._rate = 8000
        self._chunk_bytes = 1
        self._pre_roll_bytes = 2

    def start(self, sample_rate: int, chunk_ms: float) -> None:
        self._rate = sample_rate
        self._chunk_bytes = max(1, int(sample_rate * 2 * chunk_ms / 1000))
        self._pre_roll_bytes = int(sample_rate * PRE_ROLL_S) * 2

    def add(self, pcm: bytes) -> None:
        """One frame of 16-bit PCM at the call's rate."""
        self._held.extend(pcm)
        if self.holding:
            extra = len(self._held) - self._pre_roll_bytes
            if extra >= self._chunk_bytes:  # trimmed a chunk at a time, not a frame at a time
                del self._held[:extra]
        elif len(self._held) >= self._chunk_bytes:
            self.flush()

    def speech_started(self) -> None:
        """The VAD hears the caller: the held pre-roll goes at once, and what follows as it comes."""
        if self.holding:
            self.holding = False
            self.flush()

    def quiet_for(self, quiet_ms: float) -> None:
        """The caller is not speaking, and has been quiet for `quiet_ms`: past the hangover, hold back."""
        if self.speech_only and not self.holding and quiet_ms >= HANGOVER_MS:
            self.flush()
            self.holding = True

    def flush(self) -> None:
        """Queue what is held, however short."""
        if not self._held:
            return
        if self.queue.qsize() * self._chunk_bytes >= MAX_AUDIO_BACKLOG_S * self._rate * 2:
            dropped = self.queue.get_nowait()
            self.sent_s -= len(dropped or b"") / 2 / self._rate  # the STT never hears it
        self.queue.put_nowait(bytes(self._held))
        self.sent_s += len(self._held) / 2 / self._rate
        self._held.clear()

    def finalize(self) -> float:
        """The caller paused: queue what is held, then the finalize; where on the stream it falls."""
        self.flush()
        self.queue.put_nowait(None)
        return self.sent_s
