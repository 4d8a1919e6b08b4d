"""voicegrid: a self-hostable, multi-tenant platform for AI phone agents."""

from voicegrid import native

__version__ = "0.1.0"

native.check()  # a compiled media module older than its source would run old code
