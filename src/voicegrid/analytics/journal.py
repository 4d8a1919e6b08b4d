"""An append-only local journal of call records: written (and fsynced) before the store is tried.

One JSON line per record in `calls.jsonl`, and beside it `calls.stored`, the byte offset up to which
the store has every record (replaced atomically). `pending()` reads from that offset; `mark()` moves it
on once the store took them. Records are written at least once: the store's write is an upsert by id.
When everything is stored and the file has grown past `rotate_bytes`, it starts afresh. A torn last
line (a crash mid-write) is left for the next append to complete, never parsed as a record.
File work runs in a thread, off the event loop.
"""

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from voicegrid.analytics.errors import JournalError

MAX_LINE_BYTES = 4 * 1024 * 1024


class Journal:
    def __init__(self, directory: Path, rotate_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self.log = directory / "calls.jsonl"
        self.offset_file = directory / "calls.stored"
        self.rotate_bytes = rotate_bytes
        self._lock = asyncio.Lock()
        self._tail_checked = False

    def _ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _close_torn_tail(self) -> None:
        """A crash mid-write leaves a line without its newline: close it, so the next record starts
        clean. Only a crash tears a line, so a journal looks once, at its first append."""
        self._ensure()
        if self.log.exists() and self.log.stat().st_size > 0:
            with self.log.open("rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
        self._tail_checked = True

    def _append(self, line: bytes) -> None:
        if not self._tail_checked:
            self._close_torn_tail()
        with self.log.open("ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    async def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
        if len(line) > MAX_LINE_BYTES:
            raise JournalError(f"record {record.get('id')} is {len(line)} bytes, over {MAX_LINE_BYTES}")
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, line)
            except OSError as exc:
                raise JournalError(f"journal not written: {exc}") from exc

    def _stored(self) -> int:
        try:
            return int(self.offset_file.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def _pending(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        start = self._stored()
        records: list[dict[str, Any]] = []
        end = start
        try:
            with self.log.open("rb") as f:
                f.seek(start)
                for raw in f:
                    if not raw.endswith(b"\n"):
                        break  # torn: not yet a record
                    end += len(raw)
                    if raw.strip():
                        try:
                            records.append(json.loads(raw))
                        except ValueError:
                            continue  # a line torn by a crash and closed by the next append
                    if len(records) >= limit:
                        break
        except FileNotFoundError:
            return [], start
        return records, end

    async def pending(self, limit: int = 200) -> tuple[list[dict[str, Any]], int]:
        """Records the store has not confirmed, oldest first, and the offset to `mark` once it has."""
        async with self._lock:
            return await asyncio.to_thread(self._pending, limit)

    def _mark(self, offset: int) -> None:
        self._ensure()
        size = self.log.stat().st_size if self.log.exists() else 0
        if offset >= size and size > self.rotate_bytes:
            self.log.unlink()
            offset = 0
        tmp = self.offset_file.with_suffix(".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self.offset_file)

    async def mark(self, offset: int) -> None:
        async with self._lock:
            await asyncio.to_thread(self._mark, offset)
