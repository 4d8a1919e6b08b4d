"""A call's recording written to disk as the call goes, never held whole in memory.

The recorder (media/recording.py) hands over a chunk of mixed samples about once a second; each chunk
is appended to `<call id>.part` by one writer thread that every call shares (so the event loop never
waits on the disk, and chunks of one file stay in order). At the end the WAV header gets its real
sizes, the file is fsynced and renamed to `<call id>.wav`. A disk that fails stops that recording,
not the call: the error is kept and logged once.
"""

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from voicegrid.media.recording import wav_header

log = logging.getLogger(__name__)
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recordings")


def recording_path(root: Path, business_id: str, call_id: str) -> Path:
    """Where a call's recording lives: <recordings dir>/<business id>/<call id>.wav. The one place
    the path is built (written, served, erased by retention); ids are ours, checked by the API
    before they get here."""
    return root / business_id / f"{call_id}.wav"


class RecordingFile:
    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.part = path.with_suffix(".part")
        self.sample_rate = sample_rate
        self.data_bytes = 0
        self.error: str | None = None
        self._fd: int | None = None
        self._queued = 0  # bytes handed to the writer thread, not yet on disk

    def write(self, data: bytes) -> None:
        """Queue a chunk for the writer thread (from the event loop; returns at once)."""
        if data and self.error is None:
            self._queued += len(data)
            _WRITER.submit(self._append, data)

    def _append(self, data: bytes) -> None:
        self._queued -= len(data)
        if self.error is not None:
            return
        try:
            if self._fd is None:
                self.part.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.write(self._fd, wav_header(self.sample_rate, 0))
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self.data_bytes += len(data)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = str(exc)
        log.warning("recording %s stopped: %s", self.path.name, exc)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.part.unlink(missing_ok=True)

    def _finish(self) -> Path | None:
        if self.error is not None:
            return None
        try:
            if self._fd is None:  # nothing was recorded: an empty WAV all the same
                self._append(b"")
            if self._fd is None:
                return None
            os.pwrite(self._fd, wav_header(self.sample_rate, self.data_bytes), 0)
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self.part.replace(self.path)
            return self.path
        except OSError as exc:
            self._fail(exc)
            return None

    async def close(self) -> Path | None:
        """After every queued chunk: the WAV's final path, or None if the disk failed."""
        return await asyncio.wrap_future(_WRITER.submit(self._finish))
