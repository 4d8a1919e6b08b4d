"""Prometheus metrics of finished calls (on the platform's registry, beside capacity's): calls by
direction and outcome, per-turn latency by component, cost by component and provider, provider
failures, active calls, and whether the record store is keeping up."""

import functools
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from voicegrid.analytics.recorder import Recorder
from voicegrid.analytics.rollup import LATENCY

TURN_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)


def _attribute(holder: Any, name: str) -> float:
    return float(getattr(holder, name))


class CallMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.ended = Counter("voicegrid_calls_ended", "Calls ended", ["direction", "outcome"], registry=r)
        self.turns = Histogram(
            "voicegrid_turn_latency_seconds",
            "Per-turn latency by component",
            ["component"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.cost = Counter(
            "voicegrid_call_cost_usd", "Cost of ended calls", ["component", "provider"], registry=r
        )
        self.errors = Counter(
            "voicegrid_provider_errors",
            "Provider failures during calls",
            ["stage", "provider", "kind"],
            registry=r,
        )
        self.active = Gauge("voicegrid_calls_active", "Calls in progress on this node", registry=r)
        self.store_ok = Gauge(
            "voicegrid_call_records_stored", "1 while records reach the database", registry=r
        )
        self.drain_ok = Gauge(
            "voicegrid_call_records_drain_healthy",
            "1 while the task moving records from the journal to the store works (0: see the log)",
            registry=r,
        )
        self.dead_lettered = Gauge(
            "voicegrid_call_records_dead_lettered",
            "Records the store refused, set aside in <data dir>/journal/dead-letter.jsonl since start",
            registry=r,
        )
        self.lost = Gauge(
            "voicegrid_call_records_lost",
            "Records neither journaled, stored nor set aside (the disk failed twice) since start",
            registry=r,
        )
        self.webhook_events = Counter(
            "voicegrid_webhook_events",
            "Call events to businesses' URLs, by how they ended: delivered, failed (given up) or dropped",
            ["result"],
            registry=r,
        )
        self.webhooks_pending = Gauge(
            "voicegrid_webhooks_pending", "Call events waiting in this node's outbox", registry=r
        )
        self.campaign_calls = Gauge(
            "voicegrid_campaign_calls_active",
            "Campaign calls this node dialled and has not yet stored",
            registry=r,
        )
        self.campaign_ends_unstored = Gauge(
            "voicegrid_campaign_ends_unstored",
            "Campaign calls that ended but whose outcome the database has not yet taken (kept, retried)",
            registry=r,
        )
        self.campaign_tick_failures = Gauge(
            "voicegrid_campaign_tick_failures",
            "Campaign ticks that failed since start (see the log)",
            registry=r,
        )

        self.analyses = Gauge(
            "voicegrid_call_analyses",
            "Post-call analyses on this node since start: done, failed (recorded so, with the reason), "
            "retried (put back: a provider or the store failed), store_failures",
            ["result"],
            registry=r,
        )

    def observe(self, record: dict[str, Any]) -> None:
        self.ended.labels(record.get("direction") or "", record.get("outcome") or "unknown").inc()
        for turn in (record.get("latency") or {}).get("turns", []):
            for name in LATENCY:
                value = turn.get(f"{name}_ms")
                if isinstance(value, int | float):
                    self.turns.labels(name).observe(value / 1000)
        for item in (record.get("cost") or {}).get("items", []):
            if item.get("amount"):
                self.cost.labels(item["component"], item["provider"]).inc(float(item["amount"]))
        for failure in record.get("failovers") or []:
            error = failure.get("error") or {}
            self.errors.labels(
                str(failure.get("stage")), str(error.get("provider")), str(error.get("kind"))
            ).inc()

    def watch(self, active: Callable[[], int], recorder: Recorder) -> None:
        self.active.set_function(lambda: float(active()))
        self.store_ok.set_function(lambda: 1.0 if recorder.store_ok else 0.0)
        self.drain_ok.set_function(lambda: 1.0 if recorder.healthy else 0.0)
        self.dead_lettered.set_function(lambda: float(recorder.dead_lettered))
        self.lost.set_function(lambda: float(recorder.lost))

    def watch_webhooks(self, pending: Callable[[], int]) -> None:
        self.webhooks_pending.set_function(lambda: float(pending()))

    def watch_campaigns(
        self, flying: Callable[[], int], unstored: Callable[[], int], failed: Callable[[], int]
    ) -> None:
        self.campaign_calls.set_function(lambda: float(flying()))
        self.campaign_ends_unstored.set_function(lambda: float(unstored()))
        self.campaign_tick_failures.set_function(lambda: float(failed()))

    def watch_analyses(self, counts: Any) -> None:
        """`counts`: an object with done, failed, retried and store_failures (read at each scrape)."""
        for name in ("done", "failed", "retried", "store_failures"):
            self.analyses.labels(name).set_function(functools.partial(_attribute, counts, name))

    def webhook_ended(self, result: str) -> None:
        self.webhook_events.labels(result).inc()
