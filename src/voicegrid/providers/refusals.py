"""A provider's request over HTTP that failed, as our error: refused with a status (`status_error`:
`for_status`, with the start of the API's own message, of which at most MAX_ERROR_BODY bytes are
read), or failed below HTTP (`http_failure`: the lookup, the connection, the stream)."""

import orjson

from voicegrid.core.egress import DestinationError
from voicegrid.core.errors import HttpConnectError, HttpRequestRefused, HttpTimeout
from voicegrid.core.http_client import HttpResponse
from voicegrid.providers.errors import (
    ProviderClosed,
    ProviderConnectError,
    ProviderError,
    ProviderTimeout,
    for_status,
)

MAX_ERROR_BODY = 16 * 1024


async def status_error(provider: str, response: HttpResponse) -> ProviderError:
    """The error for a refused request, with the start of the API's own message (read capped)."""
    body = b""
    async for block in response:
        body += block
        if len(body) >= MAX_ERROR_BODY:
            break
    message = _error_message(body[:MAX_ERROR_BODY]) or body[:200].decode(errors="replace")
    return for_status(provider, response.status, f"HTTP {response.status}: {message[:200]}")


def _error_message(body: bytes) -> str:
    """OpenAI's `{"error": {"message"}}`, Deepgram's `{"err_msg"}` or `{"message"}`; else nothing."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(parsed, dict):
        return ""
    error = parsed.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return str(error or parsed.get("err_msg") or parsed.get("message") or "")


def http_failure(provider: str, exc: Exception, *, started: bool) -> ProviderError:
    """Our error for a request that `core.http_client` (or the destination policy) failed: `exc` is an
    HttpError, a DestinationError or the lookup's TimeoutError; `started`: the answer had begun."""
    if isinstance(exc, (HttpTimeout, TimeoutError)):
        return ProviderTimeout(provider, "request timed out")
    if isinstance(exc, HttpRequestRefused):  # an endpoint or key no request is formed with
        return ProviderConnectError(provider, f"bad endpoint: {exc}")
    if isinstance(exc, DestinationError):
        return ProviderConnectError(provider, f"endpoint not allowed: {exc.reason}")
    if started:  # the connection dropped mid-answer
        return ProviderClosed(provider, "stream cut off mid-answer")
    if isinstance(exc, HttpConnectError):
        return ProviderConnectError(provider, f"cannot connect: {exc}")
    return ProviderClosed(provider, f"stream failed: {type(exc).__name__}")
