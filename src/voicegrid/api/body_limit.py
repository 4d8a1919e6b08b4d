"""A cap on request bodies (413 beyond it), checked before any handler reads them; and the one
reader of uploaded files, with its own cap."""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voicegrid.tenancy import InvalidInput

# Large enough for an agent with a big knowledge base; small enough that no request can exhaust memory.
MAX_BODY_BYTES = 4 << 20


async def _send_413(send: Send) -> None:
    body = b'{"detail":"request body too large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await _send_413(send)
                    return
        seen = 0
        started = False
        refused = False

        async def counted() -> Message:
            # Past the cap we answer 413 ourselves and tell the app the client left: frameworks
            # turn an exception raised while reading the body into their own 400.
            nonlocal seen, started, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                refused = True
                if not started:
                    started = True
                    await _send_413(send)
                return {"type": "http.disconnect"}
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's answer to a refused request is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracking)


async def read_file_body(request: Request, max_bytes: int) -> bytes:
    """A request's body (an uploaded CSV file), refused once it passes `max_bytes` (a 422 naming
    the file), before more of it is held."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > max_bytes:
            raise InvalidInput("file", f"over the {max_bytes} bytes a list may have")
    return bytes(data)
