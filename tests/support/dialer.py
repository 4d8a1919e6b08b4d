"""An in-process platform that places real SIP calls (a started call control on loopback) and runs
campaigns on a clock the test moves; the API through an in-process client."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.platform import ADMIN_KEY, Running
from voicegrid.bootstrap import ensure_admin_key
from voicegrid.config import Settings
from voicegrid.media.ports import PortAllocator
from voicegrid.server import build_platform
from voicegrid.sip.message import Request
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.telephony.calls import CallControl, Decision
from voicegrid.telephony.campaign_runner import CampaignRunner
from voicegrid.telephony.service import CallService
from voicegrid.testing.ports import free_port_block


class MovableClock:
    """Wall-clock time plus an offset the test moves forward (calling windows, retry delays)."""

    def __init__(self, start: float | None = None) -> None:
        self.offset = 0.0 if start is None else start - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Dialler:
    run: Running
    control: CallControl
    calls: CallService
    campaigns: CampaignRunner
    clock: MovableClock


async def _refuse(request: Request, source: Addr, call_id: str) -> Decision:
    return Decision(403)


@asynccontextmanager
async def dialling_platform(
    data_dir: Path, clock: MovableClock, **settings: object
) -> AsyncIterator[Dialler]:
    config = Settings(data_dir=data_dir, admin_key=ADMIN_KEY, webhook_allow_private=True, **settings)  # type: ignore[arg-type]
    platform = await build_platform(config)
    rtp = free_port_block(400)
    control = CallControl(
        UserAgent(("udp", "127.0.0.1", 0)),
        _refuse,
        ports=PortAllocator(rtp, rtp + 398),
        recordings_dir=data_dir / "recordings",
    )
    services = platform.services
    assert services.records is not None
    assert services.admission is not None
    records = services.records
    calls = CallService(
        control,
        services.sessions,
        services.secrets,
        admission=services.admission,
        voice_agent=services.voice_agent,
    )
    services.calls = calls
    runner = CampaignRunner(
        calls, services.sessions, node="dialler", clock=clock, tick_s=0.2, notify=records.event
    )
    try:
        await control.start("127.0.0.1", 0)
        records.recorder.start()
        if records.webhooks is not None:
            await records.webhooks.start()
        control.book.ended_listeners += [records.ended, runner.ended]
        runner.start()
        async with platform.services.sessions() as session:
            await ensure_admin_key(session, config)
        transport = httpx.ASGITransport(app=platform.app, client=("203.0.113.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            yield Dialler(Running(platform=platform, client=client), control, calls, runner, clock)
    finally:
        await runner.aclose()
        await control.stop()
        await records.aclose()
        await records.recorder.aclose()
        if records.webhooks is not None:
            await records.webhooks.aclose()
        await services.admission.backend.aclose()
        await platform.engine.dispose()


async def echo_business(run: Running, carrier_port: int, *, limit: int | None = None) -> tuple[str, str]:
    """A reseller's business with a trunk to the carrier on `carrier_port` (one caller ID) and an
    echo agent (and a concurrent-call limit): its API base path and the agent's id."""
    reseller = (await run.ok("POST", "/v1/resellers", json={"name": "R"}))["id"]
    business = (await run.ok("POST", "/v1/businesses", json={"name": "B", "reseller_id": reseller}))["id"]
    base = f"/v1/businesses/{business}"
    if limit is not None:
        await run.ok("PUT", f"{base}/limits", json={"max_concurrent_calls": limit})
    trunk = {"name": "t", "outbound_host": "127.0.0.1", "outbound_port": carrier_port,
             "caller_ids": ["+12125550100"]}  # fmt: skip
    await run.ok("POST", f"{base}/trunks", json=trunk)
    agent = (await run.ok("POST", f"{base}/agents", json={"name": "echo", "kind": "echo"}))["id"]
    return base, agent
