"""Analytics errors.

AnalyticsError        the base
  JournalError        the local journal could not be written or read (disk full, a torn line)
"""

from voicegrid.core.errors import VoicegridError


class AnalyticsError(VoicegridError):
    pass


class JournalError(AnalyticsError):
    pass
