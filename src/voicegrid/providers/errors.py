"""Provider errors: every vendor failure is mapped here at the client boundary, and says if a retry helps.

ProviderError (provider, retryable, status)
  ProviderConnectError    could not connect, or the connection was refused (retryable)
  ProviderTimeout         no connection, first byte or next chunk in time (retryable)
  ProviderRateLimited     429 or the vendor's concurrency limit (retryable)
  ProviderServerError     5xx (retryable)
  ProviderClosed          the stream ended mid-answer (retryable)
  ProviderAuthError       401/403: wrong or missing credentials (not retryable with the same key)
  ProviderProtocolError   the vendor sent something we cannot read, or refused our request (400)

A failover list moves to the next provider on any of them; `retryable` says whether the same provider
may be tried again later in the call.
"""

from voicegrid.core.errors import VoicegridError


class ProviderError(VoicegridError):
    retryable = False

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status

    def describe(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "kind": type(self).__name__,
            "status": self.status,
            "retryable": self.retryable,
            "message": str(self),
        }


class ProviderConnectError(ProviderError):
    retryable = True


class ProviderTimeout(ProviderError):
    retryable = True


class ProviderRateLimited(ProviderError):
    retryable = True


class ProviderServerError(ProviderError):
    retryable = True


class ProviderClosed(ProviderError):
    retryable = True


class ProviderAuthError(ProviderError):
    retryable = False


class ProviderProtocolError(ProviderError):
    retryable = False


def for_status(provider: str, status: int, message: str = "") -> ProviderError:
    """The error for an HTTP status (or a WebSocket handshake refused with it)."""
    text = message or f"HTTP {status}"
    if status in (401, 403):
        return ProviderAuthError(provider, text, status=status)
    if status == 429:
        return ProviderRateLimited(provider, text, status=status)
    if status >= 500:
        return ProviderServerError(provider, text, status=status)
    if status == 408:
        return ProviderTimeout(provider, text, status=status)
    return ProviderProtocolError(provider, text, status=status)
