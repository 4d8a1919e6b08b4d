"""Errors of tenancy rules; the API turns each into one HTTP status, in one place.

TenancyError(VoicegridError)        carries `status` and a message safe to show the caller
  NotAuthenticated   401  no key, an unknown key, or a revoked one
  Forbidden          403  the caller sees the object but its role or scope may not do this
  NotFound           404  no such object, or one the caller's tenant may not see (never says which)
  Conflict           409  the request clashes with stored state (a number owned elsewhere, a limit)
  InvalidInput       422  a value that passes the schema but breaks a rule; names the field
  TooManyAttempts    429  sign-in attempts from one source or for one email came too fast
SecretError(VoicegridError)          a secret cannot be decrypted (wrong key, tampered data)
"""

from voicegrid.core.errors import VoicegridError


class TenancyError(VoicegridError):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthenticated(TenancyError):
    status = 401


class Forbidden(TenancyError):
    status = 403


class NotFound(TenancyError):
    status = 404

    def __init__(self, message: str = "not found") -> None:
        super().__init__(message)


class Conflict(TenancyError):
    status = 409


class InvalidInput(TenancyError):
    status = 422

    def __init__(self, field: str, message: str, location: str = "body") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message
        self.location = location  # body, query or path, as in FastAPI's own 422 details


class TooManyAttempts(TenancyError):
    status = 429
    retry_after_s = 30

    def __init__(self, retry_after_s: int = 30) -> None:
        super().__init__(f"too many sign-in attempts: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class SecretError(VoicegridError):
    """A stored secret could not be decrypted with any configured key."""
