"""Idempotency-Key on POST: the first response is stored and replayed; a reused key with another body is 422.

Follows the IETF httpapi draft "The Idempotency-Key HTTP Header Field": a key is scoped to the API
key that sent it; a reservation row is written before the handler runs, so two concurrent requests
with one key cannot both create (the second gets 409 while the first is in flight). Only 2xx
responses are kept; after an error the client may retry with the same key.

A replay is authenticated like a new request (a revoked key, or one of a disabled business, gets
what it would get without the header). A secret a response shows once (a new API key, a session
token: the top-level fields in SECRET_FIELDS) is never stored: the stored copy has it set to null,
so a replay says what was created without showing the secret again.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voicegrid.api.body_limit import MAX_BODY_BYTES
from voicegrid.api.context import principal_for_key
from voicegrid.core.clock import utcnow
from voicegrid.core.ids import new_id
from voicegrid.store.models import IdempotencyRecord
from voicegrid.tenancy import TenancyError
from voicegrid.tenancy.keys import hash_api_key

MAX_KEY_LENGTH = 255
SECRET_FIELDS = frozenset({"key", "token", "secret", "password", "signing_key"})
IN_FLIGHT_STALE = timedelta(seconds=60)
RETAIN = timedelta(hours=24)
_PENDING = 0


async def _send_json(send: Send, status: int, payload: object, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


def _without_secrets(body: str) -> str:
    """The response as it may be kept: each top-level secret field set to null."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return "null"  # not JSON: nothing of it is kept
    if isinstance(parsed, dict):
        parsed = {k: (None if k in SECRET_FIELDS else v) for k, v in parsed.items()}
    return json.dumps(parsed)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, sessions: Callable[[], async_sessionmaker[AsyncSession]]) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        idem_key = headers.get("idempotency-key")
        token = headers.get("authorization", "").partition(" ")[2].strip()
        if idem_key is None or not token:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(idem_key) <= MAX_KEY_LENGTH:
            await _send_json(send, 400, {"detail": "Idempotency-Key must be 1 to 255 characters"}, [])
            return

        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _send_json(send, 413, {"detail": "request body too large"}, [])
                return
            if not message.get("more_body", False):
                break
        fingerprint = hashlib.sha256(
            b"\0".join([scope["path"].encode(), scope.get("query_string", b""), bytes(body)])
        ).hexdigest()
        actor = hash_api_key(token)[:40]
        sessions = self.sessions()

        async with sessions() as session:
            record = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.actor == actor, IdempotencyRecord.idem_key == idem_key
                )
            )
            now = utcnow()
            if (
                record is not None
                and record.status_code == _PENDING
                and now - record.created_at > IN_FLIGHT_STALE
            ):
                await session.delete(record)
                await session.commit()
                record = None
            if record is not None:
                try:
                    await principal_for_key(session, token)
                except TenancyError as exc:  # the same answer the route would give without the header
                    await _send_json(send, exc.status, {"detail": exc.message}, [])
                    return
                if record.request_hash != fingerprint:
                    detail = "Idempotency-Key was already used with a different request"
                    await _send_json(send, 422, {"detail": detail}, [])
                elif record.status_code == _PENDING:
                    await _send_json(
                        send, 409, {"detail": "a request with this Idempotency-Key is in flight"}, []
                    )
                else:
                    await _send_json(
                        send,
                        record.status_code,
                        json.loads(record.response_body),
                        [(b"idempotent-replayed", b"true")],
                    )
                return
            await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETAIN)
            )
            reservation = IdempotencyRecord(
                id=new_id("idk"),
                actor=actor,
                idem_key=idem_key,
                method="POST",
                path=scope["path"][:500],
                request_hash=fingerprint,
                status_code=_PENDING,
                response_body="",
            )
            session.add(reservation)
            try:
                await session.commit()
            except IntegrityError:
                await _send_json(
                    send, 409, {"detail": "a request with this Idempotency-Key is in flight"}, []
                )
                return

        status = 500
        captured = bytearray()
        sent_body = False

        async def replay_body() -> Message:
            nonlocal sent_body
            if sent_body:
                return await receive()
            sent_body = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                captured.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            async with sessions() as session:
                row = await session.get(IdempotencyRecord, reservation.id)
                if row is not None:
                    if 200 <= status < 300:
                        row.status_code = status
                        row.response_body = _without_secrets(captured.decode() or "null")
                    else:
                        await session.delete(row)
                    await session.commit()
