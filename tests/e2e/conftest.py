import pytest

from tests.support.browser import chromium_path


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_path()
