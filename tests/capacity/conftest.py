"""Every backend test runs on both backends: in-process, and Redis (a real redis-server)."""

import itertools
from collections.abc import AsyncIterator

import pytest

from voicegrid.capacity.backend import Backend
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.capacity.shared import RedisBackend
from voicegrid.testing.redis_server import RedisServer

_prefixes = itertools.count()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    chosen: Backend
    if request.param == "memory":
        chosen = MemoryBackend()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        chosen = RedisBackend(server.url, prefix=f"t{next(_prefixes)}:", ttl_s=5)
    await chosen.start()
    try:
        yield chosen
    finally:
        await chosen.aclose()
