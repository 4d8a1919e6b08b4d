"""Root of every voicegrid error, and the errors of the core package.

VoicegridError
  HttpError: our own HTTP/1.1 client (core.http1, core.http_client)
    HttpRequestRefused: a request we will not write (a control character in a header, ...)
    HttpConnectError: no connection to the destination
    HttpTimeout: a connect, or a wait for the next bytes, took longer than allowed
    HttpProtocolError: the peer broke HTTP/1.1 or one of our bounds
    HttpClosed: the peer closed the connection before the response was whole
  each package's errors.py derives its own tree from here (tenancy.errors, store.errors, ...)
"""


class VoicegridError(Exception):
    """Base of all errors raised by voicegrid code on purpose."""


class HttpError(VoicegridError):
    pass


class HttpRequestRefused(HttpError):
    pass


class HttpConnectError(HttpError):
    pass


class HttpTimeout(HttpError):
    pass


class HttpProtocolError(HttpError):
    pass


class HttpClosed(HttpError):
    pass
