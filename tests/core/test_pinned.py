"""The pinned HTTP clients' connection pools: the limits each is made with are the ones it keeps."""

import asyncio

from tests.support.counting_http import Counting
from voicegrid.core.egress import PERMISSIVE
from voicegrid.core.pinned import pinned_client
from voicegrid.pipeline.tools import CALL_LIMITS
from voicegrid.providers.llm.openai import shared_client


async def test_a_tool_client_holds_at_most_its_four_connections_to_a_tenants_endpoint() -> None:
    counting = Counting()
    server = await counting.start()
    try:
        async with pinned_client(PERMISSIVE, limits=CALL_LIMITS, timeout=10.0) as client:
            replies = await asyncio.gather(
                *(client.get(f"http://127.0.0.1:{counting.port}/t{n}") for n in range(10))
            )
    finally:
        server.close()
    assert [r.status_code for r in replies] == [200] * 10  # the rest waited for a connection
    assert counting.most_at_once == CALL_LIMITS.max_connections == 4


async def test_the_llm_client_keeps_alive_every_connection_a_burst_of_turns_opened() -> None:
    counting = Counting()
    server = await counting.start()
    client = shared_client(10.0, 5.0, PERMISSIVE)
    url = f"http://127.0.0.1:{counting.port}/v1/chat/completions"
    try:
        for _ in range(2):  # forty turns at once, twice: the second finds forty connections kept
            replies = await asyncio.gather(*(client.get(url) for _ in range(40)))
            assert all(r.status_code == 200 for r in replies)
    finally:
        await client.aclose()
        server.close()
    assert counting.opened == 40  # httpx's default pool would have kept 20 and opened 20 more
