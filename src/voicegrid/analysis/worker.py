"""What the analysis worker process runs: plain data in and out (pickled across the process line).

The node's own process imports this module only: the embedded engine's libraries (dateparser,
number-parser, VADER's lexicon) load in the worker, not in the node, and `warm_up` loads them when
the node starts, before it takes calls (a worker spawned at the first analysis took a core for a
second or two just as calls were being answered: their first turns waited).
"""

import contextlib
import os
import threading
import time
from typing import Any

ORPHAN_CHECK_S = 1.0


def start(node: int) -> None:  # pragma: no cover - runs in the worker process
    """The worker's first step: below the node's own priority, so live audio comes first; and gone
    within a second of its node (`node`: its pid, given by the node itself, since a node killed while
    the worker still imported is already gone when this runs), however the node ended."""
    with contextlib.suppress(OSError):
        os.nice(10)
    threading.Thread(target=_leave_with, args=(node,), name="leave-with-node", daemon=True).start()


def _leave_with(node: int) -> None:  # pragma: no cover - runs in the worker process
    while os.getppid() == node:  # an orphan is adopted by another process (init, a subreaper)
        time.sleep(ORPHAN_CHECK_S)
    os._exit(0)


def embedded_analysis(
    record: dict[str, Any], kb: dict[str, Any], language: str, plan: dict[str, Any]
) -> dict[str, Any]:
    """The embedded engine's whole analysis of one call."""
    from voicegrid.analysis import embedded
    from voicegrid.analysis.findings import CallInput
    from voicegrid.analysis.plan import plan_of

    return embedded.analyse(CallInput(record, kb, language), plan_of(plan)).document()


def call_findings(record: dict[str, Any], kb: dict[str, Any], language: str) -> dict[str, Any]:
    """What the call's own facts say (the model engine's part done without the model)."""
    from voicegrid.analysis.findings import CallInput, findings

    return findings(CallInput(record, kb, language)).model_dump(mode="json")


def warm_up() -> dict[str, Any]:
    """Load the embedded engine and run it once (its libraries' first use builds their tables)."""
    record = {
        "created_at": "2026-01-01T12:00:00+00:00",
        "transcript": [
            {"speaker": "caller", "text": "a table for two tomorrow at seven pm, call me on 555 0100"}
        ],
    }
    return embedded_analysis(record, {}, "en-US", {})


def pid() -> int:
    """The worker's process id (for a test that the worker leaves with its node)."""
    return os.getpid()
