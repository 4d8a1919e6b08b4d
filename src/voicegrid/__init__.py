"""voicegrid: a self-hostable, multi-tenant platform for AI phone agents."""

__version__ = "0.1.0"
