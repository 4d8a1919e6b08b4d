"""voicegrid: a self-hostable, multi-tenant platform for AI phone agents."""

import sys

# httpx imports its command-line client when present (rich and pygments with it); a node never runs
# it, so that import is refused (None in sys.modules) and httpx takes its own fallback, a stub.
# bench/idle.py, one run after the other: 131.8 MB idle before, 128.5 after.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from voicegrid import native  # noqa: E402

__version__ = "0.1.0"

native.check()  # a compiled media module older than its source would run old code
