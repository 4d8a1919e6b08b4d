"""What the analysis worker process runs: plain data in and out (pickled across the process line).

The node's own process imports this module only: the embedded engine's libraries (dateparser,
number-parser, VADER's lexicon) load in the worker, at its first analysis, not in the node.
"""

import contextlib
import os
from typing import Any


def start() -> None:  # pragma: no cover - runs in the worker process
    """The worker's first step: below the node's own priority, so live audio comes first."""
    with contextlib.suppress(OSError):
        os.nice(10)


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
