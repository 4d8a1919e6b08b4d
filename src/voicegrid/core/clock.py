"""Wall-clock time in UTC; the one place the package reads it for records."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, truncated to microseconds as every database keeps it."""
    return datetime.now(UTC)
