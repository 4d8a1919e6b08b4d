"""Catalog errors.

CatalogError         a price file that does not hold together (a bug in data, reported with where)
  UnknownVersion     a catalog version nobody published
"""

from voicegrid.core.errors import VoicegridError


class CatalogError(VoicegridError):
    pass


class UnknownVersion(CatalogError):
    def __init__(self, version: str, known: list[str]) -> None:
        super().__init__(f"no catalog version {version!r}; known: {', '.join(known)}")
        self.version = version
