"""Shared ids, errors, clocks and small types; imports nothing else of ours."""

from voicegrid.core.clock import utcnow
from voicegrid.core.errors import VoicegridError
from voicegrid.core.ids import id_prefix, new_id

__all__ = ["VoicegridError", "id_prefix", "new_id", "utcnow"]
