"""The carrier media sockets leave the ASGI stack at the upgrade (`api/media_socket`): what a hostile
peer can do to them on a real `voicegrid serve` (fragments, a message too big, pings, sockets that
never start, more of them than a node holds), and that every other socket still takes uvicorn's path."""

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.serve import env_without_voicegrid, serving
from voicegrid import native
from voicegrid.api.routes.media_streams import START_TIMEOUT_S
from voicegrid.media.g711 import ulaw_decode, ulaw_encode
from voicegrid.transports.carrier import MAX_FRAGMENTS, MAX_FRAME_BYTES

SID = "MZ00000000000000000000000000000001"
ADMIN = "vg_admin_media_socket_test_key_0123456789"
WAITING = 16  # the node's cap on sockets not yet started, set low here


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("media-socket") / "var"
    env = env_without_voicegrid(VOICEGRID_MEDIA_STREAMS_WAITING=str(WAITING), VOICEGRID_ADMIN_KEY=ADMIN)
    with serving(data, "--demo", env=env) as (url, _):
        demo = json.loads((data / "demo.json").read_text())
        agents = httpx.get(f"{url}/v1/agents", headers={"Authorization": f"Bearer {demo['api_key']}"})
        echo = next(a["id"] for a in agents.json()["items"] if a["kind"] == "echo")
        yield {"ws": url.replace("http://", "ws://"), "http": url, "key": demo["api_key"], "echo": echo}


def _closed_by_node(node: dict[str, Any], reason: str) -> float:
    """The node's own count, in /metrics, of carrier sockets it closed for `reason`."""
    metrics = httpx.get(f"{node['http']}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    line = f'voicegrid_media_sockets_closed_total{{reason="{reason}"}} '
    return next(float(row[len(line) :]) for row in metrics.splitlines() if row.startswith(line))


def test_the_node_says_in_metrics_how_many_media_modules_it_runs_compiled(node: dict[str, Any]) -> None:
    metrics = httpx.get(f"{node['http']}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    rows = dict(
        row.rsplit(" ", 1) for row in metrics.splitlines() if row.startswith("voicegrid_media_modules{")
    )
    built = sum(1 for module in native.MODULES if native.built(module))  # what `make native` built here
    assert float(rows['voicegrid_media_modules{compiled="yes"}']) == built
    assert float(rows['voicegrid_media_modules{compiled="no"}']) == len(native.MODULES) - built


def _start(api_key: str, agent_id: str) -> str:
    parameters = {"api_key": api_key, "agent_id": agent_id}
    return json.dumps({"event": "start", "streamSid": SID, "start": {"customParameters": parameters}})


def _media(payload: bytes) -> str:
    encoded = base64.b64encode(payload).decode()
    return json.dumps({"event": "media", "streamSid": SID, "media": {"payload": encoded}})


async def _closed(ws: ClientConnection, limit_s: float = 5.0) -> tuple[int, str]:
    async def drain() -> None:
        async with asyncio.timeout(limit_s):
            while True:
                await ws.recv()

    with pytest.raises(ConnectionClosed) as closed:
        await drain()
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _echoed(ws: ClientConnection, payload: bytes, limit_s: float = 5.0) -> bool:
    """Send `payload` as media until the echo agent sends it back."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        await ws.send(_media(payload))
        try:
            async with asyncio.timeout(0.1):
                while True:
                    message = json.loads(await ws.recv())
                    heard = (
                        base64.b64decode(message["media"]["payload"]) if message["event"] == "media" else b""
                    )
                    if heard == ulaw_encode(ulaw_decode(payload)):  # the echo agent's own encoding
                        return True
        except TimeoutError:
            continue
    return False


def test_a_start_sent_in_fragments_is_put_together_and_the_call_answers(node: dict[str, Any]) -> None:
    async def main() -> None:
        async with connect(node["ws"] + "/v1/media-streams/twilio") as ws:
            start = _start(node["key"], node["echo"])
            await ws.send([start[:10], start[10:40], start[40:]])  # a text message in three frames
            assert await _echoed(ws, bytes(range(96, 256)))

    asyncio.run(main())


def test_a_message_over_the_cap_closes_the_socket_whole_or_in_fragments(node: dict[str, Any]) -> None:
    before = _closed_by_node(node, "too_big")

    async def main() -> None:
        big = "x" * (MAX_FRAME_BYTES + 1)
        async with connect(node["ws"] + "/v1/media-streams/twilio", max_size=None) as ws:
            await ws.send(big)
            code, _ = await _closed(ws)
            assert code in (1009, 1002)  # picows' parser refuses the frame before we see it
        async with connect(node["ws"] + "/v1/media-streams/twilio", max_size=None) as ws:
            await ws.send([big[i : i + 8192] for i in range(0, len(big), 8192)])
            assert await _closed(ws) == (1009, "message too big")

    asyncio.run(main())
    assert _closed_by_node(node, "too_big") > before  # at least the fragments (picows may count the whole)


def test_a_message_in_more_frames_than_the_cap_closes_the_socket_though_it_is_small(
    node: dict[str, Any],
) -> None:
    """One-byte frames: 64 Ki of them cost the node an object each and, summed again at each frame,
    about 40 s of its event loop, every call's media stopped; a message comes in at most
    MAX_FRAGMENTS frames."""
    before = _closed_by_node(node, "too_big")

    async def main() -> None:
        async with connect(node["ws"] + "/v1/media-streams/twilio") as ws:
            await ws.send(["x"] * (MAX_FRAGMENTS + 1))
            assert await _closed(ws) == (1009, "message too big")

    asyncio.run(main())
    assert _closed_by_node(node, "too_big") > before


def test_pings_are_answered_and_a_close_is_answered_with_a_close(node: dict[str, Any]) -> None:
    async def main() -> None:
        async with connect(node["ws"] + "/v1/media-streams/telnyx") as ws:
            pong = await ws.ping(b"are you there")
            async with asyncio.timeout(5):
                await pong
            await ws.close(1000, "done")
            assert ws.close_code == 1000

    asyncio.run(main())


def test_a_socket_that_never_starts_is_closed_after_the_start_timeout(node: dict[str, Any]) -> None:
    before = _closed_by_node(node, "no_start")

    async def main() -> None:
        async with connect(node["ws"] + "/v1/media-streams/twilio") as ws:
            began = time.monotonic()
            assert await _closed(ws, START_TIMEOUT_S + 5) == (1008, "no start frame")
            assert time.monotonic() - began >= START_TIMEOUT_S - 1

    asyncio.run(main())
    assert _closed_by_node(node, "no_start") == before + 1


def test_sockets_past_the_waiting_cap_are_told_to_try_later_and_the_cap_comes_back(
    node: dict[str, Any],
) -> None:
    before = _closed_by_node(node, "over_cap")

    async def main() -> None:
        url = node["ws"] + "/v1/media-streams/twilio"
        waiting = [await connect(url) for _ in range(WAITING)]
        try:
            async with connect(url) as one_more:
                assert await _closed(one_more) == (1013, "too many streams waiting to start")
        finally:
            await asyncio.gather(*(ws.close() for ws in waiting))
        await asyncio.sleep(0.5)  # their closes reach the node
        async with connect(url) as ws:  # a place again: this one is judged by its key
            await ws.send(_start("vg_not_a_key", "agt_nope"))
            assert await _closed(ws) == (1008, "unknown key or agent")

    asyncio.run(main())
    assert _closed_by_node(node, "over_cap") == before + 1


def test_other_sockets_keep_uvicorns_path_and_an_unknown_one_is_refused(node: dict[str, Any]) -> None:
    async def main() -> None:
        async with connect(node["ws"] + "/v1/talk") as ws:  # the talk socket: ASGI, as before
            await ws.send(json.dumps({"api_key": "vg_not_a_key", "agent_id": "agt_nope"}))
            assert await _closed(ws) == (1008, "unknown key or agent")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(node["ws"] + "/v1/media-streams/nobody"):
                pass
        assert refused.value.response.status_code in (403, 404)

    asyncio.run(main())
