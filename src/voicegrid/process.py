"""The node's process: the open-file limit, the garbage collector's tuning, and serving HTTP until
SIGTERM or SIGINT."""

import asyncio
import contextlib
import gc
import logging
import resource
import signal
from collections.abc import Awaitable, Callable, Iterator

import uvicorn

log = logging.getLogger("voicegrid")


# Python's cyclic GC stops the event loop, and so every call's media: measured under 100 calls, a
# full (gen2) collection took 150-300 ms, as it walked every object the imports left behind.
# Freezing those into the permanent generation takes them out of every later collection, and a
# larger first threshold makes the young collections rarer (most of a call's garbage is freed by
# reference counting anyway).
GC_THRESHOLDS = (10_000, 50, 100)


def tune_gc() -> None:
    # no collection first: a full one took 130 ms of the start, and what it would free of the
    # imports' cyclic garbage is a few kilobytes, kept for good
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def raise_file_limit() -> int:
    """Raise the soft limit on open files to the hard one (each call holds sockets, each SIP/TCP peer
    one); returns the limit in force. TCP connections are then held to half of it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    log.info("open-file limit: %d", soft)
    return int(soft if soft != resource.RLIM_INFINITY else hard)


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the platform owns SIGTERM and SIGINT for all its parts."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_until_signalled(
    http: uvicorn.Server, before_exit: Callable[[], Awaitable[object]] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT; then `before_exit` (drain calls), stop HTTP, return (exit 0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.ensure_future(http.serve())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("signal received: draining calls, then shutting down")
            if before_exit is not None:
                await before_exit()
        http.should_exit = True
        await serving
    finally:
        stopping.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
