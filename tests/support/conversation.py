"""A finished conversation, as a voice agent would hand it to the call record."""

from typing import Any

from voicegrid.providers.errors import ProviderError


class Finished:
    def __init__(self, summary: dict[str, Any]) -> None:
        self._summary = summary

    def summary(self) -> dict[str, Any]:
        return self._summary

    async def wait_closed(self) -> None:
        return None

    async def reserve_stt(self) -> ProviderError | None:
        return None

    async def unreserve_stt(self) -> None:
        return None
