"""Admission of out-of-dialog requests, sans-I/O: token buckets per source and for the whole agent.

A stranger can send requests that make us hold state (an INVITE being decided) or do work (an
OPTIONS probe, a REGISTER). Requests inside a dialog, retransmissions of a transaction we have, ACK
and CANCEL are never counted here. Over a bucket, a request is dropped unanswered: answering a flood
would only feed it. The table of sources is bounded; when it is full, the longest idle go first.
"""

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self, rate_per_s: float, burst: float, max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.max_keys = rate_per_s, burst, max_keys
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                idle = sorted(self._buckets.items(), key=lambda kv: kv[1].updated)[: self.max_keys // 10]
                for gone, _ in idle:
                    del self._buckets[gone]
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        return False


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Out-of-dialog requests per second, per source address and for the whole agent (with bursts of
    twice that), and how many server transactions may be open at once. The whole agent's rate is
    counted apart for INVITEs and for the rest (OPTIONS probes above all), so a probe flood from many
    addresses cannot crowd out new calls."""

    per_source_per_s: float = 200.0
    total_per_s: float = 2000.0
    max_server_transactions: int = 20_000
    # SIP edges (proxies in front of this agent): they carry many callers' requests and limit each
    # caller themselves, so only the whole agent's rate holds them
    edges: frozenset[str] = frozenset()


DEFAULT_REQUEST_LIMITS = RequestLimits()


class RequestGate:
    def __init__(self, limits: RequestLimits = DEFAULT_REQUEST_LIMITS) -> None:
        self.limits = limits
        self._sources = TokenBuckets(limits.per_source_per_s, 2 * limits.per_source_per_s)
        self._total = TokenBuckets(limits.total_per_s, 2 * limits.total_per_s, max_keys=2)
        self.dropped_per_source = 0
        self.dropped_total = 0

    def allow(self, source_host: str, now: float, method: str = "") -> bool:
        if source_host not in self.limits.edges and not self._sources.allow(source_host, now):
            self.dropped_per_source += 1
            return False
        if not self._total.allow("INVITE" if method == "INVITE" else "", now):
            self.dropped_total += 1
            return False
        return True
