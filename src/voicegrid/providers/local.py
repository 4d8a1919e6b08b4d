"""The bounded executor that local engines (pocketsphinx, llama.cpp) run in, off the event loop."""

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="engine")
    return _executor


async def run_local(fn: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(executor(), fn)
