"""A Telnyx media-stream call end to end: the Telnyx emulator opens the stream to `voicegrid serve
--demo` as Telnyx would (auth token header, start frame, 20 ms G.711 frames), the demo agent answers,
and the call leaves a record priced for Telnyx."""

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.calls import recorded_call, spoken, wait_for, while_said
from tests.support.serve import serving
from voicegrid.testing.emulators.telnyx import TelnyxMediaStream

OPEN_HOURS = "We are open every day from 11 am to 10 pm."  # the demo agent's answer


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA"])
async def test_a_telnyx_stream_call_is_answered_by_the_agent_and_recorded(
    tmp_path: Path, encoding: str
) -> None:
    with serving(tmp_path / "var", "--demo") as (url, _log):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        api = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"}, timeout=10
        )
        stream_url = url.replace("http://", "ws://") + f"/v1/media-streams/telnyx?agent_id={demo['agent_id']}"
        question = await spoken("are you open at nine pm", 8000, quiet_s=0)
        async with TelnyxMediaStream(stream_url, token=demo["api_key"], encoding=encoding) as telnyx:
            await telnyx.silence(5.0)  # the greeting
            live = (await api.get("/v1/calls/live")).json()["calls"]
            assert [(c["transport"], c["from_number"], c["to"]) for c in live] == [
                ("telnyx", "+15550142", "+15550100")
            ]
            assert live[0]["sip_call_id"] == telnyx.call_control_id
            await telnyx.speak(question)
            assert await while_said(api, live[0]["id"], OPEN_HOURS, telnyx.silence(20.0))  # the answer
            await telnyx.stop()
            assert await telnyx.closed(5) is not None
        heard = telnyx.played.pcm().astype(np.float64)
        voiced = sum(1 for i in range(0, len(heard), 160) if np.sqrt(np.mean(heard[i : i + 160] ** 2)) > 300)
        assert voiced > 100  # over two seconds of speech: the greeting and the answer
        record = await recorded_call(api, live[0]["id"])
        assert (record["transport"], record["ended_by"], record["outcome"]) == (
            "telnyx",
            "remote",
            "completed",
        )
        said = [(t["speaker"], t["text"]) for t in record["conversation"]["transcript"]]
        assert ("agent", OPEN_HOURS) in said
        assert record["conversation"]["turns"]
        telephony = next(i for i in record["cost"]["items"] if i["component"] == "telephony")
        assert (telephony["provider"], telephony["model"], telephony["unit_price"]) == (
            "telnyx",
            "inbound",
            0.009,
        )
        assert telephony["amount"] > 0


async def test_a_telnyx_stream_with_a_wrong_token_or_an_unknown_codec_is_closed_with_a_reason(
    tmp_path: Path,
) -> None:
    with serving(tmp_path / "var", "--demo") as (url, _log):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        stream_url = url.replace("http://", "ws://") + f"/v1/media-streams/telnyx?agent_id={demo['agent_id']}"
        async with TelnyxMediaStream(stream_url, token="vg_not_a_key") as telnyx:
            assert await telnyx.closed(5) == (1008, "unknown key or agent")
        assert telnyx.played.audio == []
        async with TelnyxMediaStream(stream_url, token=demo["api_key"], encoding="OPUS") as telnyx:
            assert await telnyx.closed(5) == (1003, "codec OPUS: use PCMU or PCMA")
        # The key may also come as a custom parameter, with the agent, as Call Control allows.
        params = {"api_key": demo["api_key"], "agent_id": demo["agent_id"]}
        bare = url.replace("http://", "ws://") + "/v1/media-streams/telnyx"
        async with TelnyxMediaStream(bare, token=None, custom_parameters=params) as telnyx:
            await telnyx.silence(2.0)
            assert len(telnyx.played.audio) > 10  # the greeting has begun


async def test_a_stream_that_stops_and_closes_at_once_ends_quietly(tmp_path: Path) -> None:
    # Carriers send `stop` and close the socket straight away: the server's own close then finds it
    # gone, which is the normal end of a call, not an error to log with a traceback.
    with serving(tmp_path / "var", "--demo") as (url, log):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        stream_url = url.replace("http://", "ws://") + f"/v1/media-streams/telnyx?agent_id={demo['agent_id']}"
        api = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"}, timeout=10
        )
        for _ in range(3):
            async with TelnyxMediaStream(stream_url, token=demo["api_key"]) as telnyx:
                await telnyx.silence(1.0)
                await telnyx.stop()
        calls = await wait_for(lambda: _ended(api, 3))
        assert len(calls) == 3
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]


async def _ended(api: httpx.AsyncClient, count: int) -> list[dict[str, object]]:
    items: list[dict[str, object]] = (await api.get("/v1/calls")).json()["items"]
    ended = [c for c in items if c.get("state") == "ended"]
    return ended if len(ended) >= count else []
