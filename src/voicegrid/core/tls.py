"""The process's one TLS client context, for every connection we open to a provider, a tenant's
webhook or tool, or another node (`core.http_client`, `providers.ws`)."""

import functools
import ssl

import certifi


@functools.cache
def tls_context() -> ssl.SSLContext:
    """certifi's CAs. Making a context reads and parses the CA bundle, milliseconds of CPU; a client
    made for each request paid it each time."""
    return ssl.create_default_context(cafile=certifi.where())
