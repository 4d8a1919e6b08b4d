"""A call's webhook tools: one client for the call, its connection reused, closed at the call's end."""

import asyncio
import json

from tests.support.counting_http import Counting
from tests.support.cycles import cyclic_garbage
from tests.support.voice import Line
from voicegrid.core.egress import PERMISSIVE
from voicegrid.pipeline import ToolRunner, VoiceConfig, VoiceSession
from voicegrid.pipeline.tools import CALL_MAX_CONNECTIONS, call_client
from voicegrid.providers.base import ProviderConfig
from voicegrid.providers.llm.base import ToolCall
from voicegrid.providers.registry import build_llm, build_stt, build_tts


async def slots_service() -> tuple[asyncio.Server, list[asyncio.Event], dict[str, str]]:
    """A webhook service that keeps its connections alive; an event for each, set once it is closed."""
    connections: list[asyncio.Event] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed = asyncio.Event()
        connections.append(closed)
        try:
            while True:  # requests one after the other on the same connection
                head = (await reader.readuntil(b"\r\n\r\n")).lower()
                await reader.readexactly(int(head.split(b"content-length:")[1].split(b"\r\n")[0]))
                answer = b'{"slots": 3}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except asyncio.IncompleteReadError:
            closed.set()  # the client closed it

    server = await asyncio.start_server(keep_alive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, connections, {"name": "free_slots", "kind": "webhook", "url": f"http://127.0.0.1:{port}/"}


async def test_a_calls_webhooks_share_one_connection_which_the_calls_end_closes() -> None:
    server, connections, tool = await slots_service()
    runner = ToolRunner([tool], signing_key=b"k" * 32, call_id="call_1", destinations=PERMISSIVE)
    try:
        for n in range(3):
            outcome = await runner.run(ToolCall(str(n), "free_slots", "{}"))
            assert json.loads(outcome.result) == {"slots": 3}
        assert len(connections) == 1  # the second and third reused the first one's connection
        await runner.aclose()  # the call ended
        async with asyncio.timeout(5):  # a guard against a hang, not a measure
            await connections[0].wait()
    finally:
        server.close()


async def test_a_calls_webhooks_leave_no_reference_cycle_for_the_collector() -> None:
    server, _connections, tool = await slots_service()
    runner = ToolRunner([tool], signing_key=b"k" * 32, call_id="call_1", destinations=PERMISSIVE)
    try:
        await runner.run(ToolCall("0", "free_slots", "{}"))  # the call's client, made once
        with cyclic_garbage("voicegrid.core", "asyncio") as left:
            for n in range(3):
                assert json.loads((await runner.run(ToolCall(str(n), "free_slots", "{}"))).result) == {
                    "slots": 3
                }
        assert left == []
    finally:
        await runner.aclose()
        server.close()


async def test_the_end_of_a_conversation_closes_the_connection_its_tools_kept() -> None:
    server, connections, tool = await slots_service()
    runner = ToolRunner([tool], signing_key=b"k" * 32, call_id="call_1", destinations=PERMISSIVE)

    def simulated(options: dict[str, object]) -> list[ProviderConfig]:
        return [ProviderConfig("simulated", options=options, first_byte_timeout_s=1.0)]

    asked = {"replies": [{"text": "Let me look.", "tools": [["free_slots", "{}"]]}], "after_tool": "Three."}
    session = VoiceSession(
        VoiceConfig(),
        stt=build_stt(simulated({"transcripts": ["any room"], "final_ms": 20})),
        llm=build_llm(simulated(asked)),
        tts=build_tts(simulated({"first_byte_ms": 20, "ms_per_char": 30})),
        tools=runner,
    )
    try:
        await Line(speech=[(0.3, 0.5)]).run(session, seconds=2.5)
        await session.wait_closed()
        assert session.turns[0].agent_text == "Let me look. Three."
        assert len(connections) == 1
        async with asyncio.timeout(5):  # a guard against a hang, not a measure
            await connections[0].wait()
    finally:
        server.close()


async def test_a_calls_tool_client_holds_at_most_its_four_connections_to_a_tenants_endpoint() -> None:
    counting = Counting()
    server = await counting.start()
    client = call_client(PERMISSIVE)
    try:
        replies = await asyncio.gather(
            *(
                client.request("GET", f"http://127.0.0.1:{counting.port}/t{n}", {}, max_body=64)
                for n in range(10)
            )
        )
    finally:
        await client.aclose()
        server.close()
    assert [r.status for r in replies] == [200] * 10  # the rest waited for a connection
    assert counting.most_at_once == CALL_MAX_CONNECTIONS == 4
