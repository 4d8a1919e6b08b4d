"""A node's webhook outbox: one file per waiting delivery, `<id>.json`, written atomically (fsynced,
renamed into place), read back when the node starts again; and the `Delivery` it holds."""

import asyncio
import contextlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicegrid.analytics.errors import OutboxError

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 8 * 1024 * 1024  # a call record is at most 4 MB (the journal's bound), JSON-quoted once more
EVENTS = ("call.started", "call.ended")
DELIVERY_ID = re.compile(r"whd_[0-9A-Z]{26}")  # it names the file: nothing else may


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    url: str
    business_id: str
    event: str
    body: str  # the exact bytes signed and sent, as UTF-8 text
    attempt: int  # attempts made so far
    next_at: float  # unix time of the next attempt
    created_at: float
    call_id: str = ""
    last_status: int | None = None  # the endpoint's answer to the last attempt
    last_error: str = ""  # or why it could not answer

    def view(self) -> dict[str, Any]:
        """What the business may see of it (not the body: that is the call's record)."""
        return {
            "id": self.id, "event": self.event, "call_id": self.call_id or None, "url": self.url,
            "attempts": self.attempt, "next_attempt_at": _iso(self.next_at),
            "created_at": _iso(self.created_at), "last_status": self.last_status,
            "last_error": self.last_error or None,
        }  # fmt: skip


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")


def parse_delivery(raw: bytes) -> Delivery:
    """A delivery from its outbox file; OutboxError for anything that is not one we wrote."""
    if len(raw) > MAX_FILE_BYTES:
        raise OutboxError(f"delivery file is {len(raw)} bytes, over {MAX_FILE_BYTES}")
    try:
        fields = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise OutboxError(f"delivery file is not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise OutboxError("delivery file is not a JSON object")
    texts = ("id", "url", "business_id", "event", "body")
    if not all(isinstance(fields.get(k), str) for k in texts):
        raise OutboxError(f"delivery file lacks one of {', '.join(texts)} as text")
    numbers = ("next_at", "created_at")
    attempt = fields.get("attempt")
    if (
        not all(type(fields.get(k)) in (int, float) for k in numbers)
        or type(attempt) is not int
        or attempt < 0
    ):
        raise OutboxError("delivery file has no valid attempt, next_at or created_at")
    if not DELIVERY_ID.fullmatch(fields["id"]):
        raise OutboxError(f"delivery file has id {fields['id'][:40]!r}")
    if fields["event"] not in EVENTS or not fields["url"].startswith(("http://", "https://")):
        raise OutboxError(f"delivery file has event {fields['event']!r} or url {fields['url']!r}")
    call_id, status = fields.get("call_id"), fields.get("last_status")
    return Delivery(
        **{k: fields[k] for k in (*texts, "attempt", *numbers)},
        call_id=call_id if isinstance(call_id, str) else "",
        last_status=status if type(status) is int else None,
        last_error=str(fields.get("last_error") or "")[:500],
    )


class Outbox:
    """One file per waiting delivery, `<id>.json`, written atomically; file work runs in a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _save(self, delivery: Delivery) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{delivery.id}.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(json.dumps(asdict(delivery), separators=(",", ":")).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    async def save(self, delivery: Delivery) -> None:
        try:
            await asyncio.to_thread(self._save, delivery)
        except OSError as exc:
            raise OutboxError(f"webhook outbox not written: {exc}") from exc

    async def remove(self, delivery_id: str) -> None:
        path = self.directory / f"{delivery_id}.json"
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:  # it would be sent once more after a restart: logged, not fatal
            log.warning("webhook outbox: %s not removed: %s", path.name, exc)

    def _load(self) -> list[Delivery]:
        found: list[Delivery] = []
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("*.json")):
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise OutboxError(f"{path.stat().st_size} bytes, over {MAX_FILE_BYTES}")
                found.append(parse_delivery(path.read_bytes()))
            except (OSError, OutboxError) as exc:  # kept aside for a person to look at, never resent
                log.warning("webhook outbox: %s set aside: %s", path.name, exc)
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".bad"))
        return found

    async def load(self) -> list[Delivery]:
        """Every waiting delivery, as an earlier run left them."""
        return await asyncio.to_thread(self._load)
