"""Errors of the storage layer.

StoreError(VoicegridError)
  DatabaseUnavailable   the database cannot be reached or opened; carries the URL without its password
"""

from voicegrid.core.errors import VoicegridError


class StoreError(VoicegridError):
    pass


class DatabaseUnavailable(StoreError):
    def __init__(self, safe_url: str, reason: str) -> None:
        super().__init__(f"cannot reach the database at {safe_url}: {reason}")
        self.safe_url = safe_url
        self.reason = reason
