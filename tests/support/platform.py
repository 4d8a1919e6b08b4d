"""An in-process platform on a given database, and an HTTP client into it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from voicegrid.bootstrap import ensure_admin_key
from voicegrid.config import Settings
from voicegrid.server import Platform, build_platform
from voicegrid.sip.message import Request
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.telephony.calls import CallControl, Decision
from voicegrid.telephony.service import CallService

ADMIN_KEY = "vg_test_platform_owner_key_0123456789"


async def _refuse(request: Request, source: Addr, call_id: str) -> Decision:
    return Decision(503)


@dataclass
class Running:
    platform: Platform
    client: httpx.AsyncClient
    admin_key: str = ADMIN_KEY

    async def as_key(self, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.as_key(self.admin_key, method, path, **kwargs)

    async def ok(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        """A request that must succeed; returns the JSON body (None for 204)."""
        response = await self.as_key(key or self.admin_key, method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return None if response.status_code == 204 else response.json()


@asynccontextmanager
async def running_platform(database_url: str, data_dir: Path) -> AsyncIterator[Running]:
    settings = Settings(data_dir=data_dir, database_url=database_url, admin_key=ADMIN_KEY)
    platform = await build_platform(settings)
    # A call control that is never started: calls placed through the API are set up and kept, but
    # their SIP goes nowhere. Tests of real calls start their own SIP stack.
    control = CallControl(UserAgent(("udp", "127.0.0.1", 5060)), _refuse)
    platform.services.calls = CallService(
        control, platform.services.sessions, platform.services.secrets, admission=platform.services.admission
    )  # one admission for the API and call control, as `voicegrid serve` wires them
    try:
        async with platform.services.sessions() as session:
            await ensure_admin_key(session, settings)
        transport = httpx.ASGITransport(app=platform.app, client=("203.0.113.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Running(platform=platform, client=client)
    finally:
        await control.stop()
        await platform.engine.dispose()
