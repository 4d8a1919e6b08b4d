"""A provider's refusal over HTTP: its status as our error (`for_status`), with the start of the
API's own message, of which at most MAX_ERROR_BODY bytes are read."""

import orjson

from voicegrid.core.http_client import HttpResponse
from voicegrid.providers.errors import ProviderError, for_status

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
