"""Reference cycles left behind: garbage that only Python's cycle collector frees, which stops the event
loop (and every call's media) while it walks the young objects."""

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cyclic_garbage(*modules: str) -> Iterator[list[str]]:
    """The modules of the objects, of types from `modules`, that the block left in reference cycles."""
    gc.collect()
    found: list[str] = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield found
    finally:
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.extend(m for o in gc.garbage if (m := type(o).__module__).startswith(modules))
        gc.garbage.clear()
        gc.set_debug(0)
        if enabled:
            gc.enable()
