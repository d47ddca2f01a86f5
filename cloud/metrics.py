"""The collector's Prometheus metrics, rendered through the official client library's exposition format.
Pure: the values in (what this process counts, and what the store counts), the text out.

    firefleet_ingest_messages_total{outcome}     accepted, or refused with its reason
    firefleet_ingest_records_rejected_total      records set aside (quarantined) in accepted messages
    firefleet_broker_backlog_messages            delivered by the broker, not taken up yet
    firefleet_sequence_gaps_total, firefleet_messages_failed_total
    firefleet_store_write_queue                  writes waiting for the writer thread
    firefleet_store_commits_total, firefleet_store_commit_seconds_total   (rate() of one over the other: latency)
    firefleet_alarms{class, handling, condition} open alarms
    firefleet_gateways{state}                    online, offline
    firefleet_notifications{state}               the notification plan's sends by state
    firefleet_notifier_failures_total{notifier}  webhook and e-mail failures
    firefleet_event_stream_dropped_total         console streams dropped for being too slow
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render_metrics(live: Mapping[str, Any], stored: Mapping[str, Any]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(live, stored))
    return generate_latest(registry)


class _Snapshot(Collector):
    def __init__(self, live: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
        self.live, self.stored = live, stored

    def collect(self) -> Iterator[Any]:
        live, stored = self.live, self.stored
        messages = CounterMetricFamily("firefleet_ingest_messages", "Gateway messages checked", labels=["outcome"])
        messages.add_metric(["accepted"], live.get("accepted", 0))
        for reason, count in sorted(live.get("refused", {}).items()):
            messages.add_metric([f"refused: {reason}"], count)
        yield messages
        yield _counter("firefleet_ingest_records_rejected", "Records set aside in accepted messages",
                       live.get("rejected_records", 0))
        yield _gauge("firefleet_broker_backlog_messages", "Messages delivered by the broker, not taken up yet",
                     live.get("backlog", 0))
        yield _counter("firefleet_sequence_gaps", "Gaps seen in gateways' sequence numbers", live.get("gaps", 0))
        yield _counter("firefleet_messages_failed", "Messages whose handling failed (the gateway resends)",
                       live.get("failures", 0))
        yield _gauge("firefleet_store_write_queue", "Writes waiting for the store's writer", live.get("write_queue", 0))
        yield _counter("firefleet_store_commits", "Store transactions committed", live.get("commits", 0))
        yield _counter("firefleet_store_commit_seconds", "Time spent committing", live.get("commit_seconds", 0.0))
        yield _counter("firefleet_event_stream_dropped", "Console event streams dropped for being slow",
                       live.get("stream_dropped", 0))
        failures = CounterMetricFamily("firefleet_notifier_failures", "Webhook and e-mail failures",
                                       labels=["notifier"])
        for name, count in sorted(live.get("notifier_failures", {}).items()):
            failures.add_metric([name], count)
        yield failures
        alarms = GaugeMetricFamily("firefleet_alarms", "Open alarms", labels=["class", "handling", "condition"])
        for (cls, handling, condition), count in sorted(stored.get("alarms", {}).items()):
            alarms.add_metric([cls, handling, condition], count)
        yield alarms
        gateways = GaugeMetricFamily("firefleet_gateways", "Gateways by state", labels=["state"])
        for state in ("online", "offline"):
            gateways.add_metric([state], stored.get("gateways", {}).get(state, 0))
        yield gateways
        notes = GaugeMetricFamily("firefleet_notifications", "Notification sends by state", labels=["state"])
        for state, count in sorted(stored.get("notifications", {}).items()):
            notes.add_metric([state], count)
        yield notes


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)
