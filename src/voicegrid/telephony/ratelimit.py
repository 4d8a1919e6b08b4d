"""A token bucket per source address, so one source's INVITE flood cannot crowd out everyone else.

Only new calls are counted; requests inside established dialogs never are. The table is bounded:
when full, the longest idle sources are forgotten first.
"""

from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class SourceRateLimiter:
    def __init__(self, rate_per_s: float = 20.0, burst: float = 40.0, max_sources: int = 10_000) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: dict[str, _Bucket] = {}
        self.refused = 0

    def allow(self, source: str, now: float) -> bool:
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self.max_sources:
                idle = sorted(self._buckets.items(), key=lambda kv: kv[1].updated)[: self.max_sources // 10]
                for key, _ in idle:
                    del self._buckets[key]
            bucket = self._buckets[source] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        self.refused += 1
        return False
