"""Latency histograms that add up: fixed buckets in milliseconds, so a day's rollup is the sum of its
calls' counts and any range of days the sum of its days'. Percentiles are read back by linear
interpolation inside the bucket that holds them (good to within one bucket's width)."""

import bisect
from typing import Any

# Upper bounds, ms: finer where voice agents live (200 ms - 2 s), coarser beyond.
BOUNDS = (25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600,
          1800, 2000, 2500, 3000, 4000, 5000, 7500, 10000, 20000, 60000)  # fmt: skip


def bucket_of(ms: float) -> int:
    """The index of the bucket holding `ms` (the last one holds everything beyond 60 s)."""
    return bisect.bisect_left(BOUNDS, max(0.0, ms))


def add(histogram: dict[str, int], ms: float | None) -> None:
    if ms is None:
        return
    key = str(bucket_of(ms))
    histogram[key] = histogram.get(key, 0) + 1


def merge(into: dict[str, int], other: dict[str, Any]) -> None:
    for key, count in other.items():
        into[key] = into.get(key, 0) + int(count)


def quantile(histogram: dict[str, Any], q: float) -> float | None:
    counts = {int(k): int(v) for k, v in histogram.items() if int(v) > 0}
    total = sum(counts.values())
    if not total:
        return None
    target = q * total
    seen = 0
    for index in sorted(counts):
        if seen + counts[index] >= target:
            low = 0.0 if index == 0 else float(BOUNDS[index - 1])
            high = float(BOUNDS[index]) if index < len(BOUNDS) else low * 2
            share = (target - seen) / counts[index]
            return round(low + (high - low) * share, 1)
        seen += counts[index]
    return None
