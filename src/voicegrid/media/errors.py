"""Errors of the media layer.

MediaError(VoicegridError)
  RtpError      a datagram that is not a valid RTP or RTCP packet (dropped and counted, never raised further)
  CodecError    audio that cannot be encoded or decoded (wrong length, unknown codec)
"""

from voicegrid.core.errors import VoicegridError


class MediaError(VoicegridError):
    pass


class RtpError(MediaError):
    pass


class CodecError(MediaError):
    pass
