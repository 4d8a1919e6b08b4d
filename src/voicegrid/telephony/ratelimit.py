"""A token bucket per source address, so one source's INVITE flood cannot crowd out everyone else.

Only new calls are counted; requests inside established dialogs never are. Over the rate, an INVITE
is answered 503 with Retry-After (the UA's own gate, `sip.limits`, drops floods far above this).
"""

from voicegrid.sip.limits import TokenBuckets


class SourceRateLimiter:
    def __init__(self, rate_per_s: float = 20.0, burst: float = 40.0, max_sources: int = 10_000) -> None:
        self._buckets = TokenBuckets(rate_per_s, burst, max_sources)
        self.refused = 0

    def allow(self, source: str, now: float) -> bool:
        if self._buckets.allow(source, now):
            return True
        self.refused += 1
        return False
