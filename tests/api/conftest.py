from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.world import World, build_world
from tests.support.platform import Running, running_platform


@pytest.fixture
async def run(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with running_platform(migrated_database_url, tmp_path / "data") as running:
        yield running


@pytest.fixture
async def world(run: Running) -> World:
    return await build_world(run)
