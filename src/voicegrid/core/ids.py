"""Object ids: a type prefix and a time-ordered, random ULID body (`agt_01JD...`).

Ids sort by creation time, so a cursor is simply the last id seen, and a prefix tells a reader what
kind of object an id names without a lookup.
"""

import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(now_ms: int, entropy: bytes) -> str:
    value = (now_ms << 80) | int.from_bytes(entropy, "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_last = [0, 0]  # milliseconds and entropy of the previous id, for monotonic ids within a process
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """A new id such as `biz_01JD3Q...`: 48 bits of milliseconds, then 80 random bits.

    Within one millisecond the random part counts up from the previous id's, so ids made one after
    the other by this process sort in the order they were made.
    """
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms <= _last[0]:
            now_ms = _last[0]
            entropy = (_last[1] + 1) % (1 << 80)
        else:
            entropy = int.from_bytes(os.urandom(10), "big") >> 1  # room to count up
        _last[0], _last[1] = now_ms, entropy
    return f"{prefix}_{_ulid(now_ms, entropy.to_bytes(10, 'big'))}"


def id_prefix(object_id: str) -> str:
    """The type prefix of an id (`agt` for `agt_01JD...`), or '' when it has none."""
    head, sep, _ = object_id.partition("_")
    return head if sep else ""
