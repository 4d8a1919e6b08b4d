"""SIP signalling, sans-I/O: messages, transactions, dialogs, digest auth and SDP. No sockets, no asyncio."""

from voicegrid.sip.address import Address, parse_address
from voicegrid.sip.errors import MessageTooLarge, ParseError, SipError
from voicegrid.sip.headers import Headers
from voicegrid.sip.message import DEFAULT_LIMITS, Limits, Message, Request, Response, parse_message
from voicegrid.sip.uri import AbsoluteUri, SipUri, Uri, parse_uri
from voicegrid.sip.validate import validate
from voicegrid.sip.via import Via, parse_via

__all__ = [
    "DEFAULT_LIMITS",
    "AbsoluteUri",
    "Address",
    "Headers",
    "Limits",
    "Message",
    "MessageTooLarge",
    "ParseError",
    "Request",
    "Response",
    "SipError",
    "SipUri",
    "Uri",
    "Via",
    "parse_address",
    "parse_message",
    "parse_uri",
    "parse_via",
    "validate",
]
