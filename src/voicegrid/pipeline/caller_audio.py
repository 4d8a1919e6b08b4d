"""`CallerAudio`: the caller's audio on its way to the STT stream.

Frames are held until a whole chunk of `stt_chunk_ms` is there (Deepgram asks for 20-250 ms a
message): a fifth of the messages, wake-ups and syscalls of one per 20 ms frame. A chunk is queued
for the stream's pump task; `None` in the queue asks the STT to finalize. A slow STT never makes the
queue grow past `MAX_AUDIO_BACKLOG_S`: the oldest chunk is dropped, and `sent_s` (the audio the STT
will have heard, the clock its transcripts' `audio_end_s` are read against) does not count it.
"""

import asyncio

MAX_AUDIO_BACKLOG_S = 10.0  # audio waiting for a slow STT; older chunks are dropped


class CallerAudio:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.sent_s = 0.0  # seconds of audio queued for the STT, dropped chunks taken off
        self._held = bytearray()  # caller audio not yet queued (less than one chunk)
        self._rate = 8000
        self._chunk_bytes = 1

    def start(self, sample_rate: int, chunk_ms: float) -> None:
        self._rate = sample_rate
        self._chunk_bytes = max(1, int(sample_rate * 2 * chunk_ms / 1000))

    def add(self, pcm: bytes) -> None:
        """One frame of 16-bit PCM at the call's rate."""
        self._held.extend(pcm)
        if len(self._held) >= self._chunk_bytes:
            self.flush()

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
