"""The per-source token bucket: a burst, then the rate; sources apart; a bounded table."""

from voicegrid.telephony.ratelimit import SourceRateLimiter


def test_a_source_gets_its_burst_then_its_rate() -> None:
    limiter = SourceRateLimiter(rate_per_s=10, burst=5)
    assert [limiter.allow("198.51.100.1", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("198.51.100.1", 0.1)  # one token back after 100 ms at 10/s
    assert not limiter.allow("198.51.100.1", 0.1)
    assert limiter.refused == 3


def test_one_source_flooding_does_not_limit_another() -> None:
    limiter = SourceRateLimiter(rate_per_s=1, burst=1)
    limiter.allow("198.51.100.1", 0.0)
    assert not limiter.allow("198.51.100.1", 0.0)
    assert limiter.allow("203.0.113.9", 0.0)


def test_the_table_of_sources_stays_bounded() -> None:
    limiter = SourceRateLimiter(max_sources=100)
    for i in range(1000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}", float(i))
    assert len(limiter._buckets) <= 100
