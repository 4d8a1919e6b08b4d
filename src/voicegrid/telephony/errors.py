"""Errors of call control.

TelephonyError(VoicegridError)
  TransportError    a SIP socket could not be opened, or a peer could not be reached
  EdgeHeaderError   a request from the SIP edge names no caller source we can believe
  FleetUnavailable  the registry of calls (Redis) or the node holding a call did not answer
"""

from voicegrid.core.errors import VoicegridError


class TelephonyError(VoicegridError):
    pass


class TransportError(TelephonyError):
    pass


class EdgeHeaderError(TelephonyError):
    pass


class FleetUnavailable(TelephonyError):
    pass
