"""Root of every voicegrid error.

VoicegridError
  each package's errors.py derives its own tree from here (tenancy.errors, store.errors, ...)
"""


class VoicegridError(Exception):
    """Base of all errors raised by voicegrid code on purpose."""
