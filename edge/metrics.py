"""The agent's Prometheus metrics, on a loopback port by default (`--metrics 127.0.0.1:9464`), through the
official client library: its exposition, served by its own small HTTP server thread.

Read at each scrape from what the agent already counts: per bus the requests, timeouts, exceptions, frame
and link errors and writes; the outbox's depth per lane (through a read-only connection of the scrape's
own: SQLite connections stay in their thread); rule evaluations; alarms recorded; the uplink's state;
camera pictures taken and failed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from edge.agent import EdgeAgent

__all__ = ["AgentMetrics", "serve_metrics"]


class AgentMetrics(Collector):
    def __init__(self, agent: EdgeAgent) -> None:
        self.agent = agent

    def _outbox_depth(self) -> dict[str, tuple[int, int]]:
        """Records and bytes per lane, through a read-only connection of this scrape's own (the server
        answers each scrape on a thread of its own; SQLite connections stay in their thread)."""
        depth = {lane: (0, 0) for lane in ("alarm", "event", "attachment", "telemetry")}
        uri = f"file:{Path(self.agent.outbox.path)}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            for lane, count, total in db.execute("SELECT lane, COUNT(*), COALESCE(SUM(size), 0) FROM records "
                                                 "GROUP BY lane"):
                depth[lane] = (count, total)
        return depth

    def collect(self) -> Iterator[Any]:
        agent = self.agent
        site, gateway = agent.site.id, agent.site.gateway_id
        labels = ["site", "gateway"]
        bus = {name: CounterMetricFamily(f"firefleet_edge_bus_{name}", f"Bus {name.replace('_', ' ')} since start",
                                         labels=[*labels, "bus"])
               for name in ("requests", "timeouts", "exceptions", "frame_errors", "link_errors", "writes")}
        for bus_id, worker in agent.workers.items():
            for name, value in worker.counters.as_dict().items():
                if name in bus:
                    bus[name].add_metric([site, gateway, bus_id], value)
        yield from bus.values()
        records = GaugeMetricFamily("firefleet_edge_outbox_records", "Records waiting in the outbox", labels=[*labels,
                                                                                                           "lane"])
        size = GaugeMetricFamily("firefleet_edge_outbox_bytes", "Bytes waiting in the outbox", labels=[*labels, "lane"])
        for lane, (count, total) in self._outbox_depth().items():
            records.add_metric([site, gateway, lane], count)
            size.add_metric([site, gateway, lane], total)
        yield records
        yield size
        yield _counter("firefleet_edge_rule_evaluations", "Rule instances evaluated", site, gateway,
                       agent.engine.evaluations)
        yield _counter("firefleet_edge_alarms_recorded", "Alarm records committed to the outbox", site, gateway,
                       agent.alarms_recorded)
        yield _counter("firefleet_edge_snapshots_taken", "Camera pictures taken", site, gateway, agent.snapshots.taken)
        yield _counter("firefleet_edge_snapshots_failed", "Camera pictures not taken", site, gateway,
                       agent.snapshots.failed)
        uplink = agent.uplink
        state = GaugeMetricFamily("firefleet_edge_uplink", "1 when the broker is connected / the collector is live",
                                  labels=[*labels, "part"])
        state.add_metric([site, gateway, "broker"], float(bool(uplink and uplink.connected)))
        state.add_metric([site, gateway, "collector"], float(bool(uplink and uplink.link_ok)))
        yield state
        if uplink is not None:
            yield _counter("firefleet_edge_uplink_sent_records", "Records published", site, gateway, uplink.sent)
            yield _counter("firefleet_edge_downlink_refused", "Downlink messages refused (unsigned, forged, stale)",
                           site, gateway, uplink.rejected_downlink)


def _counter(name: str, text: str, site: str, gateway: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=["site", "gateway"])
    family.add_metric([site, gateway], value)
    return family


def serve_metrics(agent: EdgeAgent, where: str) -> tuple[Any, int]:
    """Serve the agent's metrics at HOST:PORT (port 0: any free one); (the server, its port)."""
    host, _, port = where.rpartition(":")
    registry = CollectorRegistry()
    registry.register(AgentMetrics(agent))
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    return server, int(server.server_port)
