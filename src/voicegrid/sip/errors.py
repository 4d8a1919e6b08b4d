"""Errors of the SIP stack. A protocol error carries the status a UAS should answer with.

SipError(VoicegridError)
  ParseError            malformed or unusable message; `status` (400, 505, 513, ...) and `reason`
    MessageTooLarge     over a size limit set by the parser's Limits (513)
  TransactionError      an event the transaction state machine does not allow in its state
  DialogError           a request or response that does not fit the dialog
  AuthError             digest authentication could not be computed or checked
  SdpError             an SDP body that cannot be parsed, or an offer with nothing in common (488)
  UnsafeValue           a value we were about to write carries CR, LF or NUL (header injection)
"""

from voicegrid.core.errors import VoicegridError


class SipError(VoicegridError):
    pass


class ParseError(SipError):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class MessageTooLarge(ParseError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, status=513)


class TransactionError(SipError):
    pass


class DialogError(SipError):
    pass


class AuthError(SipError):
    pass


class SdpError(SipError):
    def __init__(self, reason: str, status: int = 488) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class UnsafeValue(SipError):
    pass
