"""baresip, a real softphone, calls voicegrid and is called by it, over UDP on loopback."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.baresip import make_baresip, run_baresip, stop
from tests.support.ports import free_udp_and_tcp_port
from voicegrid.sip.message import Request
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.telephony.calls import CallControl, CallState, Decision


async def answer(request: Request, source: Addr) -> Decision:
    return Decision(200, ring_ms=100)


@pytest.fixture
async def control() -> AsyncIterator[CallControl]:
    port = free_udp_and_tcp_port()
    calls = CallControl(UserAgent(("udp", "127.0.0.1", port)), answer)
    await calls.start("127.0.0.1", port)
    try:
        yield calls
    finally:
        await calls.stop()


async def test_baresip_calls_voicegrid_and_hangs_up(control: CallControl, tmp_path: Path) -> None:
    phone = await asyncio.to_thread(make_baresip, tmp_path)
    target = f"sip:+15550100@127.0.0.1:{control.ua.local[2]}"
    process = await run_baresip(phone, "-e", f"/dial {target}", quit_after_s=3)
    await stop(process)
    await asyncio.sleep(0.3)
    (call,) = control.calls.values()
    log = await asyncio.to_thread(phone.text)
    assert "Call established" in log, log
    assert call.direction == "inbound"
    assert call.state is CallState.ENDED
    assert (call.outcome, call.ended_by) == ("completed", "remote")
    assert call.media is not None
    assert (call.media.codec.name, call.media.remote_address) == ("PCMU", "127.0.0.1")


async def test_voicegrid_calls_baresip_and_hangs_up(control: CallControl, tmp_path: Path) -> None:
    phone = await asyncio.to_thread(make_baresip, tmp_path)
    process = await run_baresip(phone, quit_after_s=8)
    try:
        await asyncio.sleep(1.0)  # let it bind its SIP port
        call = control.dial(
            phone.uri, ("udp", "127.0.0.1", phone.sip_port), from_uri="sip:+15550100@127.0.0.1"
        )
        async with asyncio.timeout(10):
            await call.answered.wait()
        await asyncio.sleep(0.5)
        control.hangup(call)
        await asyncio.sleep(0.5)
    finally:
        process.terminate()
        await stop(process)
    log = await asyncio.to_thread(phone.text)
    assert "Call established" in log, log
    assert "terminated" in log
    assert (call.outcome, call.ended_by) == ("answered", "local")
