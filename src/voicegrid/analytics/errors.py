"""Analytics errors.

AnalyticsError        the base
  JournalError        the local journal could not be written or read (disk full, a torn line)
  OutboxError         the webhook outbox could not be written, or holds a file that is not a delivery
"""

from voicegrid.core.errors import VoicegridError


class AnalyticsError(VoicegridError):
    pass


class JournalError(AnalyticsError):
    pass


class OutboxError(AnalyticsError):
    pass
