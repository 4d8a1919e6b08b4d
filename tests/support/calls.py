"""For end-to-end tests of calls through the API: the caller's words as espeak-ng says them, and
waiting on the API for what a call leaves behind."""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import numpy as np

from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.tts.espeak import EspeakTts

T = TypeVar("T")


async def spoken(text: str, rate: int, quiet_s: float = 1.0) -> np.ndarray:
    """`text` as espeak-ng says it at `rate` Hz (as `voicegrid call` speaks), then `quiet_s` of quiet."""
    tts = EspeakTts(ProviderConfig("espeak-ng", options={"rate": 150}))
    chunks = [pcm async for pcm in tts.synthesize(text, rate, Meter())]
    return np.concatenate([*chunks, np.zeros(int(rate * quiet_s), dtype=np.int16)])


async def wait_for(check: Callable[[], Awaitable[T]], seconds: float = 15.0) -> T:
    """`await check()` until it gives something true, or `seconds` pass (then its last answer)."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def while_said(
    api: httpx.AsyncClient, call_id: str, line: str, keep_talking: Awaitable[None], seconds: float = 20.0
) -> bool:
    """Run `keep_talking` (the far end's quiet, paced) until the live call's transcript has the agent
    say `line` in full, or `seconds` pass: a busy machine's slower reply is waited for, not cut off."""

    async def said() -> bool:
        call: dict[str, Any] = (await api.get(f"/v1/calls/{call_id}")).json()
        lines = ((call.get("conversation") or {}).get("transcript")) or []
        return any(t["speaker"] == "agent" and t["text"] == line and not t.get("interrupted") for t in lines)

    talking = asyncio.ensure_future(keep_talking)
    try:
        return await wait_for(said, seconds)
    finally:
        talking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await talking


async def recorded_call(api: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    """The call as the API shows it once its record (with cost) is built, a moment after it ends."""

    async def costed() -> dict[str, Any] | None:
        call: dict[str, Any] = (await api.get(f"/v1/calls/{call_id}")).json()
        return call if call.get("cost") else None

    found = await wait_for(costed)
    assert found is not None, f"no record of {call_id}"
    return found
