"""REST API v1 (FastAPI): tenants, users, keys, agents, numbers, trunks, credentials, limits, audit."""

from voicegrid.api.app import create_app
from voicegrid.api.context import AppServices

__all__ = ["AppServices", "create_app"]
