"""Every record type through ingest and the store, fuzzed with hypothesis (issue 11.1): whatever a gateway
sends, nothing raises past ingest, what fits is stored, what does not is quarantined, and every background
job (escalation, tickets, readiness, the site overview) still runs over the store afterwards."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.escalation import escalate_due
from cloud.ingest import Ingest
from cloud.readiness_report import district_readiness, snapshot_readiness
from cloud.site_overview import district_sites
from cloud.store import Store
from tests.support.records import checked

NOW = 1_800_000_000.0
GOOD: dict[str, dict[str, Any]] = {
        "alarm": {"type": "alarm", "key": "sd1/smoke", "class": "fire", "severity": 1, "state": "active",
                  "device": "sd1", "rule": "smoke", "value": True, "text": ""},
        "event": {"type": "event", "device": "sd1", "kind": "device_offline", "details": {}},
        "command": {"type": "command", "command": "c-1", "state": "successful", "reason": ""},
        "reading": {"type": "reading", "device": "sd1", "values": {"battery": 80}}}
LANE = {"alarm": "alarms", "event": "events", "command": "events", "reading": "telemetry"}
ODD = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**64 - 1),
                st.floats(), st.text(max_size=30), st.binary(max_size=8),
                st.recursive(st.integers(-2**63, 2**63 - 1) | st.text(max_size=5), lambda x: st.lists(x, max_size=3) |
                             st.dictionaries(st.text(max_size=5), x, max_size=3), max_leaves=8))


@st.composite
def records(draw: st.DrawFn, kind: str) -> dict[Any, Any]:
    record: dict[Any, Any] = {**GOOD[kind], "id": f"f:{draw(st.integers(0, 10**6))}", "site": "s1",
                              "t": NOW + draw(st.floats(-1e5, 1e5)), "mono": draw(st.floats(0, 1e6)),
                              "trusted": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(sorted(record)), max_size=3)):
        if draw(st.booleans()):
            record[name] = draw(ODD)  # a field of the wrong type, out of range, NaN, nested...
        else:
            record.pop(name, None)
    if draw(st.booleans()):
        record[draw(st.text(max_size=10))] = draw(ODD)  # an extra field
    return record


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "c.sqlite", streets={"s1": "西溪街道"})
    s.store_records("s1", "gw1", checked([{**GOOD["alarm"], "id": "keep:1", "t": NOW}]))
    return s


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(GOOD)), data=st.data())
def test_whatever_a_gateway_sends_is_stored_or_quarantined_and_every_job_still_runs(
        store: Store, kind: str, data: st.DataObject) -> None:
    batch = data.draw(st.lists(records(kind), min_size=1, max_size=4))
    envelope: dict[Any, Any] = {"boot": "b", "seq": 1, "records": batch}
    spoiled = data.draw(st.integers(0, 9)) == 0
    if spoiled:
        envelope[data.draw(st.sampled_from(["boot", "seq", "records"]))] = data.draw(ODD)
    payload = msgpack.packb(envelope, use_bin_type=True)
    before = store.count("records")
    verdict = Ingest({"gw1": "s1"}).check(f"ff/v1/s1/gw1/{LANE[kind]}", payload)
    if verdict.ok:
        _, new = store.store_records("s1", "gw1", verdict.records)
        store.quarantine("s1", "gw1", "fuzz", verdict.rejects)
        assert spoiled or len(verdict.records) + len(verdict.rejects) == len(batch)
        assert store.count("records") == before + new
        for rec in verdict.records:  # what was accepted holds what the contract promises
            assert isinstance(rec.t, float) and math.isfinite(rec.t)
    else:
        store.quarantine("s1", "gw1", "fuzz", [])
    assert store.alarm(1) is not None  # nothing already stored is lost
    for job in (lambda: escalate_due(store, ["chief"], NOW + 3600), lambda: store.evaluate_tickets(NOW + 3600),
                lambda: store.health_summary(NOW), lambda: district_sites(store, {}),
                lambda: district_readiness(store, {}), lambda: snapshot_readiness(store, {}, NOW),
                lambda: store.alarms(open_only=False)):
        job()
