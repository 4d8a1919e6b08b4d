"""The pinned httpx clients' connection pools: the limits each is made with are the ones it keeps."""

import asyncio

from tests.support.counting_http import Counting
from voicegrid.core.egress import PERMISSIVE
from voicegrid.core.pinned import pinned_client
from voicegrid.pipeline.tools import CALL_LIMITS


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
