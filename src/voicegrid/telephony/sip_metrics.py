"""SIP protection counters in /metrics (what the node refused strangers, read when scraped), and
whether the node runs its media path compiled."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voicegrid import native
from voicegrid.sip.useragent import UserAgent
from voicegrid.telephony.sip_transport import SipEndpoint


class SipGuardCollector(Collector):
    def __init__(self, ua: UserAgent, endpoint: SipEndpoint) -> None:
        self.ua, self.endpoint = ua, endpoint

    def collect(self) -> Iterator[Metric]:
        dropped = CounterMetricFamily(
            "voicegrid_sip_requests_dropped",
            "Out-of-dialog SIP requests dropped unanswered, by the bucket they were over",
            labels=["bucket"],
        )
        dropped.add_metric(["per_source"], self.ua.gate.dropped_per_source)
        dropped.add_metric(["total"], self.ua.gate.dropped_total)
        yield dropped
        yield CounterMetricFamily(
            "voicegrid_sip_stateless_answers",
            "SIP requests answered without keeping a transaction (OPTIONS, 481, 503 over the cap)",
            value=self.ua.counters.stateless,
        )
        closed = CounterMetricFamily(
            "voicegrid_sip_tcp_closed", "SIP/TCP connections we closed, by why", labels=["reason"]
        )
        closed.add_metric(["over_cap"], self.endpoint.tcp_refused)
        closed.add_metric(["slow_or_idle"], self.endpoint.tcp_timed_out)
        closed.add_metric(["not_reading"], self.endpoint.tcp_overflowed)
        yield closed


class MediaBuildCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        modules = GaugeMetricFamily(
            "voicegrid_media_modules",
            "The media path's modules (voicegrid.native.MODULES), by whether this node runs them compiled",
            labels=["compiled"],
        )
        compiled = len(native.compiled())
        modules.add_metric(["yes"], compiled)
        modules.add_metric(["no"], len(native.MODULES) - compiled)
        yield modules


def watch_sip(registry: CollectorRegistry, ua: UserAgent, endpoint: SipEndpoint) -> None:
    registry.register(SipGuardCollector(ua, endpoint))
    registry.register(MediaBuildCollector())
