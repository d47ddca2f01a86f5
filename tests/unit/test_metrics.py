"""The collector's /metrics (cloud/metrics.py, cloud/api/metrics.py), read back with the Prometheus client
library's own parser: what it says matches the store and the process; only a local scraper, or one with
the metrics token, may read it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud.api import build_api
from cloud.auth import Auth
from cloud.event_hub import EventHub
from cloud.store import Store
from devices.contract import as_birth, as_record


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_parse_and_say_what_the_store_and_the_process_count(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"{tmp_path}/s.db")
    store.save_birth("shed-1", "gw1", as_birth({"boot": "b", "site": "shed-1"}))
    store.store_records("shed-1", "gw1", [as_record({
        "type": "alarm", "id": f"o:{n}", "site": "shed-1", "t": time.time(), "mono": 1.0, "trusted": True,
        "key": key, "class": cls, "severity": 1, "state": "active", "device": "sd1"})
        for n, (key, cls) in enumerate((("sd1/smoke", "fire"), ("sd1/fault", "fault")))])

    async def sent(*args: object) -> None:
        return None
    app = build_api(store, Auth(store), EventHub(), sent, live=lambda: {
        "accepted": 41, "refused": {"unknown gateway": 3}, "write_queue": 2, "commits": 10, "commit_seconds": 0.5,
        "notifier_failures": {"WebhookNotifier": 1}})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5555)),
                                 base_url="http://collector") as local:
        answer = await local.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(answer.text)
    assert got[("firefleet_alarms", (("class", "fire"), ("condition", "active"), ("handling", "raised")))] == 1
    assert got[("firefleet_alarms", (("class", "fault"), ("condition", "active"), ("handling", "raised")))] == 1
    assert got[("firefleet_gateways", (("state", "online"),))] == 1
    assert got[("firefleet_ingest_messages_total", (("outcome", "accepted"),))] == 41
    assert got[("firefleet_ingest_messages_total", (("outcome", "refused: unknown gateway"),))] == 3
    assert got[("firefleet_store_write_queue", ())] == 2
    assert got[("firefleet_notifier_failures_total", (("notifier", "WebhookNotifier"),))] == 1

    monkeypatch.setenv("FF_METRICS_TOKEN", "scrape-me")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.9.8.7", 5555)),
                                 base_url="http://collector") as remote:
        assert (await remote.get("/metrics")).status_code == 403
        assert (await remote.get("/metrics", headers={"Authorization": "Bearer a guess"})).status_code == 403
        assert (await remote.get("/metrics", headers={"Authorization": "Bearer scrape-me"})).status_code == 200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5555)),
                                 base_url="http://collector") as proxy:  # a local proxy forwarding the world
        assert (await proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 403
    store.close()


def test_the_grafana_dashboard_asks_only_for_metrics_we_export() -> None:
    import json
    import re

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "deploy/grafana/firefleet.json").read_text())
    asked = {m for panel in dashboard["panels"] for target in panel["targets"]
             for m in re.findall(r"firefleet_[a-z_]+", target["expr"])}
    source = (root / "cloud/metrics.py").read_text() + (root / "edge/metrics.py").read_text()
    exported = set(re.findall(r'"(firefleet_[a-z_]+)"', source))
    exported |= {f"firefleet_edge_bus_{n}" for n in ("requests", "timeouts", "exceptions", "frame_errors",
                                                    "link_errors", "writes")}
    exported |= {f"{name}_total" for name in exported}  # counters are exposed with _total
    assert asked and asked <= exported, asked - exported
